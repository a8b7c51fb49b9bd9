/**
 * The socket under a connection: the browser's WebSocket, or `ws` in Node (which can send the
 * token as an `Authorization` header rather than in the URL). @see PROTOCOL.md §1
 */

/** The subset of the WebSocket API the SDK uses (the browser's WebSocket and `ws` both have it). */
export interface SocketLike {
  binaryType: string;
  readonly readyState: number;
  /** Bytes queued but not yet sent (flow control for producers). */
  readonly bufferedAmount?: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** Makes a socket to `url` (already ending in `/ws`) that presents `token`. */
export type SocketFactory = (url: string, token: string) => SocketLike | Promise<SocketLike>;

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** `ws://host:port` → `ws://host:port/ws`; `http(s)://` becomes `ws(s)://`. */
export function socketUrl(url: string): string {
  const u = url.replace(/^http(s?):\/\//, 'ws$1://');
  return /\/ws(\?|$)/.test(u) ? u : `${u.replace(/\/$/, '')}/ws`;
}

/**
 * The default factory: in Node, `ws` with a bearer header (imported on first use, so browser
 * bundles never include it); elsewhere the global WebSocket with `?token=`.
 */
export const defaultSocketFactory: SocketFactory = async (url, token) => {
  if (isNode) {
    const { default: WebSocket } = await import('ws');
    return new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false }) as unknown as SocketLike;
  }
  const Ctor = (globalThis as unknown as { WebSocket?: new (url: string) => SocketLike }).WebSocket;
  if (Ctor === undefined) throw new Error('no global WebSocket: pass a socket factory');
  return new Ctor(`${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`);
};

/** Whether an upgrade refusal looks like a rejected token (`ws` reports the status in the message). */
export function isUnauthorizedOpenError(ev: unknown): boolean {
  const message = (ev as { message?: unknown; error?: { message?: unknown } } | null)?.message ?? (ev as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof message === 'string' && /\b(401|403)\b/.test(message);
}
