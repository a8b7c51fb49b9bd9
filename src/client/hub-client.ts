/**
 * The TypeScript SDK for devices, dashboards and scripts: one socket, requests matched to
 * replies by `id`, pushes to a handler. Works with the browser's WebSocket or Node's `ws`.
 * Knows nothing of the server's code; it speaks PROTOCOL.md.
 */
import { Packr, Unpackr } from 'msgpackr';

export type Encoding = 'json' | 'msgpack';

/** The error object of PROTOCOL.md §4, as a throwable. */
export class HubRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: { path: string; message: string }[],
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'HubRequestError';
  }
}

/** The subset of the WebSocket API the client uses (browser WebSocket and `ws` both have it). */
export interface SocketLike {
  binaryType: string;
  readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface HubClientOptions {
  /** `ws://host:port` (the `/ws` path is added) or a full `ws://…/ws` URL. */
  url: string;
  token: string;
  encoding?: Encoding;
  /** Makes the socket; default: the global WebSocket with the token as `?token=`. */
  createSocket?: (url: string, token: string) => SocketLike;
  /** Default time to wait for a reply. */
  timeoutMs?: number;
}

export interface Push {
  op: string;
  data: unknown;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export class HubClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly pushHandlers = new Set<(push: Push) => void>();
  private readonly errorHandlers = new Set<(error: HubRequestError) => void>();
  /** Resolves with the close code and reason when the socket closes. */
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    private readonly socket: SocketLike,
    readonly encoding: Encoding,
    private readonly timeoutMs: number,
  ) {
    socket.binaryType = 'arraybuffer';
    socket.onmessage = (ev) => this.receive(ev.data);
    this.closed = new Promise((resolve) => {
      socket.onclose = (ev) => {
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`socket closed (${ev.code}) before the reply`));
        }
        this.pending.clear();
        resolve({ code: ev.code, reason: ev.reason });
      };
    });
  }

  /** Opens a socket; rejects if the hub refuses it (401) or cannot be reached. */
  static connect(options: HubClientOptions): Promise<HubClient> {
    const url = /\/ws(\?|$)/.test(options.url) ? options.url : `${options.url.replace(/\/$/, '')}/ws`;
    const create =
      options.createSocket ??
      ((u: string, token: string) => {
        const Ctor = (globalThis as unknown as { WebSocket?: new (url: string) => SocketLike }).WebSocket;
        if (Ctor === undefined) throw new Error('no global WebSocket: pass createSocket');
        return new Ctor(`${u}${u.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`);
      });
    const socket = create(url, options.token);
    return new Promise((resolve, reject) => {
      socket.onerror = () => reject(new Error(`could not open ${url}`));
      socket.onopen = () => {
        // After open, an error is always followed by close, which settles everything pending.
        socket.onerror = () => undefined;
        resolve(new HubClient(socket, options.encoding ?? 'json', options.timeoutMs ?? 30_000));
      };
    });
  }

  /** Sends a request and resolves with its `data`, or rejects with a {@link HubRequestError}. */
  request<T = unknown>(op: string, data: Record<string, unknown> = {}, timeoutMs = this.timeoutMs): Promise<T> {
    if (this.socket.readyState !== 1) return Promise.reject(new Error(`socket closed before ${op} was sent`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no reply to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.sendRaw({ id, op, data });
    });
  }

  /** Sends a request without an id: no reply on success; errors arrive at {@link onError}. */
  fire(op: string, data: Record<string, unknown> = {}): void {
    this.sendRaw({ op, data });
  }

  /** Sends any value as one frame in this client's encoding (for tests of the hub's parsing). */
  sendRaw(message: unknown): void {
    this.socket.send(this.encoding === 'json' ? JSON.stringify(message) : packr.pack(message));
  }

  onPush(handler: (push: Push) => void): () => void {
    this.pushHandlers.add(handler);
    return () => this.pushHandlers.delete(handler);
  }

  /** Errors that answer no pending request (`id: null`). */
  onError(handler: (error: HubRequestError) => void): () => void {
    this.errorHandlers.add(handler);
    return () => this.errorHandlers.delete(handler);
  }

  close(code = 1000, reason = ''): Promise<{ code: number; reason: string }> {
    if (this.socket.readyState <= 1) this.socket.close(code, reason);
    return this.closed;
  }

  private receive(raw: unknown): void {
    const message = (typeof raw === 'string' ? JSON.parse(raw) : unpackr.unpack(new Uint8Array(raw as ArrayBuffer))) as {
      id?: number | string | null;
      ok?: boolean;
      op?: string;
      data?: unknown;
      error?: { status: number; code: string; message: string; details?: { path: string; message: string }[]; retry_after_ms?: number };
    };
    if (message.ok === undefined && typeof message.op === 'string') {
      for (const handler of this.pushHandlers) handler({ op: message.op, data: message.data });
      return;
    }
    const error =
      message.ok === false && message.error !== undefined
        ? new HubRequestError(message.error.status, message.error.code, message.error.message, message.error.details, message.error.retry_after_ms)
        : undefined;
    const pending = typeof message.id === 'number' ? this.pending.get(message.id) : undefined;
    if (pending === undefined) {
      if (error !== undefined) for (const handler of this.errorHandlers) handler(error);
      return;
    }
    this.pending.delete(message.id as number);
    clearTimeout(pending.timer);
    if (error !== undefined) pending.reject(error);
    else pending.resolve(message.data);
  }
}
