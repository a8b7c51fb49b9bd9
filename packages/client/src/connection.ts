/**
 * A connection to the hub that stays up: requests matched to replies by `id`, pushes to
 * listeners, and — unless told otherwise — reconnection with exponential back-off and jitter
 * when the socket drops (1001, 1006, 1011, 1013, a refused or failed open), never after `1008`
 * (token revoked or expired) or a `401`/`403` at upgrade, which end it with an {@link AuthError}.
 * @see PROTOCOL.md §3, §4
 */
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { decode, encode, type Encoding, type IncomingMessage } from './codec.js';
import { AuthError, ClosedError, HubRequestError, TimeoutError } from './errors.js';
import type { OpName, OpRequests, PushData } from './ops.js';
import { defaultSocketFactory, isUnauthorizedOpenError, socketUrl, type SocketFactory, type SocketLike } from './socket.js';
import type { ReplyOf } from './wire-types.js';

export interface ConnectionOptions {
  /** `ws://host:port` (or `http://`; `/ws` is added) or a full `ws://…/ws` URL. */
  url: string;
  /** A bearer token (login JWT or API token), or a function giving one for each (re)connect. */
  token: string | (() => string | Promise<string>);
  /** `json` (text frames, default) or `msgpack` (binary frames). */
  encoding?: Encoding;
  /** Makes the socket; default: `ws` in Node (bearer header), the global WebSocket elsewhere. */
  createSocket?: SocketFactory;
  /** Default time to wait for a reply (30 s). */
  timeoutMs?: number;
  /** Give up on one open attempt after this long (10 s). */
  connectTimeoutMs?: number;
  /** Reconnect back-off (default 250 ms doubling to 10 s, ±50 % jitter); `false`: never reconnect. */
  reconnect?: BackoffOptions | false;
  /** Retry when the very first open fails (default true: a device may start before its hub). */
  retryFirstOpen?: boolean;
}

export interface RequestOptions {
  timeoutMs?: number;
  /**
   * While the connection is down, wait for it to come back (default) rather than fail at once
   * with a {@link ClosedError}. The wait counts towards the timeout.
   */
  waitForOpen?: boolean;
}

/** A push as delivered to listeners. */
export type Push = { [P in keyof PushData]: { op: P; data: PushData[P] } }[keyof PushData] | { op: string; data: unknown };

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closing' | 'closed';

interface Events {
  /** The socket opened; `reconnected` is false the first time. */
  open: { reconnected: boolean };
  /** The socket closed; `reconnecting` says whether another one will be opened. */
  disconnect: { code: number; reason: string; reconnecting: boolean };
  push: Push;
  /** Errors that answer no pending request (`"id": null`, e.g. of fire-and-forget requests). */
  error: HubRequestError;
  /** The connection ended for good; `error` is set unless `close()` ended it. */
  closed: { code: number; reason: string; error?: ClosedError };
}

interface Pending {
  op: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

const RECONNECT_CODES = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014]);
/** Close codes the client itself uses: a socket given up on (timeout, stale) and then replaced. */
const CLOSE_STALE = 4000;

export class Connection {
  readonly encoding: Encoding;
  /** Resolves when the connection has ended for good (after `close()`, a `1008`, or no reconnect). */
  readonly closed: Promise<{ code: number; reason: string }>;
  private socket: SocketLike | undefined;
  private state_: ConnectionState = 'connecting';
  private nextId = 1;
  private generation = 0;
  private attempt = 0;
  private opens = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Set<{ resolve(): void; reject(err: Error): void }>();
  private readonly listeners: { [E in keyof Events]: Set<(ev: Events[E]) => void> } = {
    open: new Set(),
    disconnect: new Set(),
    push: new Set(),
    error: new Set(),
    closed: new Set(),
  };
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly createSocket: SocketFactory;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private finalError: ClosedError | undefined;
  private resolveClosed!: (v: { code: number; reason: string }) => void;

  /** Starts connecting at once; see {@link Connection.open} to wait for the first open. */
  constructor(private readonly options: ConnectionOptions) {
    this.url = socketUrl(options.url);
    this.encoding = options.encoding ?? 'json';
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.createSocket = options.createSocket ?? defaultSocketFactory;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    void this.openSocket();
  }

  /**
   * Connects and resolves once the first socket is open. With `reconnect` enabled a hub that is
   * not up yet is retried; a refused token rejects with an {@link AuthError}.
   */
  static async open(options: ConnectionOptions): Promise<Connection> {
    const connection = new Connection(options);
    try {
      await connection.opened();
    } catch (err) {
      connection.dispose();
      throw err;
    }
    return connection;
  }

  get state(): ConnectionState {
    return this.state_;
  }

  get isOpen(): boolean {
    return this.state_ === 'open';
  }

  /** Bytes the current socket has queued but not sent (0 when unknown). */
  get bufferedAmount(): number {
    return this.socket?.bufferedAmount ?? 0;
  }

  /** Resolves when the connection is open (at once if it is); rejects once it has ended. */
  opened(): Promise<void> {
    if (this.state_ === 'open') return Promise.resolve();
    if (this.state_ === 'closed' || this.state_ === 'closing') return Promise.reject(this.endedError());
    return new Promise((resolve, reject) => this.waiters.add({ resolve, reject }));
  }

  on<E extends keyof Events>(event: E, listener: (ev: Events[E]) => void): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /** Pushes (compatibility with the first client: `on('push', …)`). */
  onPush(handler: (push: Push) => void): () => void {
    return this.on('push', handler);
  }

  /** Errors that answer no pending request. */
  onError(handler: (error: HubRequestError) => void): () => void {
    return this.on('error', handler);
  }

  /** A typed request: `op` and `data` are checked against the hub's op registry at compile time. */
  call<O extends OpName>(op: O, data: OpRequests[O], options?: RequestOptions): Promise<ReplyOf<O>> {
    return this.request<ReplyOf<O>>(op, data as Record<string, unknown>, options);
  }

  /**
   * An untyped request (any op, any data): resolves with the reply's `data`, rejects with a
   * {@link HubRequestError}, a {@link TimeoutError} or a {@link ClosedError}.
   */
  async request<T = unknown>(op: string, data: object = {}, options: RequestOptions | number = {}): Promise<T> {
    const opts = typeof options === 'number' ? { timeoutMs: options } : options;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    if (this.state_ !== 'open') {
      if (opts.waitForOpen === false || this.state_ === 'closed' || this.state_ === 'closing') {
        throw this.state_ === 'closed' || this.state_ === 'closing' ? this.endedError() : new ClosedError(`not connected: ${op} was not sent`);
      }
      await withTimeout(this.opened(), timeoutMs, () => new TimeoutError(op, timeoutMs));
    }
    const socket = this.socket as SocketLike;
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TimeoutError(op, timeoutMs));
      }, Math.max(0, deadline - Date.now()));
      this.pending.set(id, { op, resolve: resolve as (v: unknown) => void, reject, timer });
      socket.send(encode({ id, op, data }, this.encoding));
    });
  }

  /** Sends a request without an id: no reply on success; errors arrive at `on('error')`. */
  fire(op: string, data: object = {}): void {
    this.sendRaw({ op, data });
  }

  /** Sends any value as one frame in this connection's encoding (tests of the hub's parsing). */
  sendRaw(message: unknown): void {
    if (this.state_ !== 'open' || this.socket === undefined) throw new ClosedError('not connected');
    this.socket.send(encode(message, this.encoding));
  }

  /** Drops the current socket and opens another (e.g. after a request that never got its reply). */
  reconnectNow(): void {
    if (this.state_ !== 'open' || this.socket === undefined) return;
    this.socket.close(CLOSE_STALE, 'reconnecting');
  }

  /**
   * Ends the connection: no new requests; waits up to `drainMs` (default 5 s) for the replies
   * already awaited, then closes the socket with `code`. Resolves with the close code and reason.
   */
  async close(code = 1000, reason = '', drainMs = 5_000): Promise<{ code: number; reason: string }> {
    if (this.state_ === 'closed') return this.closed;
    if (this.state_ !== 'closing') {
      const wasOpen = this.state_ === 'open';
      this.state_ = 'closing';
      clearTimeout(this.reconnectTimer);
      this.rejectWaiters(this.endedError());
      if (wasOpen && this.pending.size > 0 && drainMs > 0) await this.drained(drainMs);
      if (this.socket !== undefined && this.socket.readyState <= 1) this.socket.close(code, reason);
      else this.finish(code, reason);
    }
    return this.closed;
  }

  private drained(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const deadline = Date.now() + ms;
      const check = (): void => {
        if (this.pending.size === 0 || Date.now() >= deadline || this.socket?.readyState !== 1) resolve();
        else setTimeout(check, 10);
      };
      check();
    });
  }

  private async openSocket(): Promise<void> {
    const generation = ++this.generation;
    let socket: SocketLike;
    try {
      const token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
      socket = await this.createSocket(this.url, token);
    } catch (err) {
      this.socketEnded(generation, 1006, err instanceof Error ? err.message : String(err), false);
      return;
    }
    if (this.state_ === 'closing' || this.state_ === 'closed') {
      socket.onopen = () => socket.close(1000, '');
      return;
    }
    this.socket = socket;
    socket.binaryType = 'arraybuffer';
    let opened = false;
    let refused = false;
    const connectTimer = setTimeout(() => {
      if (!opened) socket.close();
      if (!opened) this.socketEnded(generation, 1006, 'open timed out', false);
    }, this.connectTimeoutMs);
    socket.onopen = () => {
      opened = true;
      clearTimeout(connectTimer);
      if (generation !== this.generation) return;
      this.state_ = 'open';
      this.attempt = 0;
      const reconnected = this.opens++ > 0;
      for (const w of this.waiters) w.resolve();
      this.waiters.clear();
      this.emit('open', { reconnected });
    };
    socket.onerror = (ev) => {
      if (!opened && isUnauthorizedOpenError(ev)) refused = true;
    };
    socket.onmessage = (ev) => {
      if (generation === this.generation) this.receive(ev.data);
    };
    socket.onclose = (ev) => {
      clearTimeout(connectTimer);
      this.socketEnded(generation, ev.code, ev.reason, refused);
    };
  }

  private socketEnded(generation: number, code: number, reason: string, refused: boolean): void {
    if (generation !== this.generation) return;
    this.generation++; // later events of this socket are stale
    this.socket = undefined;
    const closedError = new ClosedError(`connection closed (${code}${reason === '' ? '' : ` ${reason}`}) before the reply`, code, reason);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(closedError);
    }
    this.pending.clear();
    if (this.state_ === 'closing' || this.state_ === 'closed') {
      this.finish(code, reason);
      return;
    }
    let fatal: ClosedError | undefined;
    if (refused) fatal = new AuthError('the hub refused the token at upgrade (401/403)', code, reason);
    else if (code === 1008) fatal = new AuthError(`the hub closed the connection: token revoked or expired (1008${reason === '' ? '' : ` ${reason}`})`, code, reason);
    else if (this.opens === 0 && this.options.retryFirstOpen === false) {
      fatal = new ClosedError(`could not connect to ${this.url} (${code}${reason === '' ? '' : ` ${reason}`})`, code, reason);
    } else if (this.options.reconnect === false) fatal = new ClosedError(`connection closed (${code}${reason === '' ? '' : ` ${reason}`})`, code, reason);
    else if (this.opens > 0 && !RECONNECT_CODES.has(code) && code !== CLOSE_STALE) {
      fatal = new ClosedError(`the hub closed the connection (${code}${reason === '' ? '' : ` ${reason}`})`, code, reason);
    }
    if (fatal !== undefined) {
      this.finalError = fatal;
      this.state_ = 'closed';
      this.emit('disconnect', { code, reason, reconnecting: false });
      this.rejectWaiters(fatal);
      this.finish(code, reason);
      return;
    }
    this.state_ = 'reconnecting';
    this.emit('disconnect', { code, reason, reconnecting: true });
    const delay = backoffDelay(this.attempt++, this.options.reconnect === false ? undefined : this.options.reconnect);
    this.reconnectTimer = setTimeout(() => void this.openSocket(), delay);
  }

  private finish(code: number, reason: string): void {
    const wasFinished = this.finishedOnce;
    this.finishedOnce = true;
    this.state_ = 'closed';
    clearTimeout(this.reconnectTimer);
    if (wasFinished) return;
    this.emit('closed', { code, reason, ...(this.finalError === undefined ? {} : { error: this.finalError }) });
    this.resolveClosed({ code, reason });
  }

  private finishedOnce = false;

  /** Ends without waiting (a failed first open). */
  private dispose(): void {
    clearTimeout(this.reconnectTimer);
    if (this.state_ !== 'closed') {
      this.state_ = 'closing';
      if (this.socket !== undefined) this.socket.close(1000, '');
      else this.finish(1000, '');
    }
  }

  private endedError(): ClosedError {
    return this.finalError ?? new ClosedError('the connection is closed');
  }

  private rejectWaiters(err: Error): void {
    for (const w of this.waiters) w.reject(err);
    this.waiters.clear();
  }

  private emit<E extends keyof Events>(event: E, value: Events[E]): void {
    for (const listener of this.listeners[event]) listener(value);
  }

  private receive(raw: unknown): void {
    let message: IncomingMessage;
    try {
      message = decode(raw);
    } catch {
      return; // the hub sends only valid frames; a broken one is not ours to answer
    }
    if (message.ok === undefined && typeof message.op === 'string') {
      this.emit('push', { op: message.op, data: message.data } as Push);
      return;
    }
    const pending = typeof message.id === 'number' ? this.pending.get(message.id) : undefined;
    const error = message.ok === false && message.error !== undefined ? HubRequestError.fromWire(message.error, pending?.op) : undefined;
    if (pending === undefined) {
      if (error !== undefined) this.emit('error', error);
      return;
    }
    this.pending.delete(message.id as number);
    clearTimeout(pending.timer);
    if (error !== undefined) pending.reject(error);
    else pending.resolve(message.data);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(error()), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
