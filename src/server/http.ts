/** Small HTTP helpers over uWS responses: JSON bodies, error objects, abort tracking. */
import { HubError, toHubError } from '../errors.js';
import type { HttpResponse } from './uws.js';

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** `200 OK`, the status line uWS wants. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Unknown'}`;
}

/** Whether the client went away, with callbacks for those who must then clean up. */
export interface AbortState {
  readonly aborted: boolean;
  onAbort(callback: () => void): void;
}

/**
 * Tracks whether the client went away; call first thing in any handler that answers later
 * (uWS allows one onAborted handler per response, so everyone shares this one).
 */
export function trackAborted(res: HttpResponse): AbortState {
  const callbacks: (() => void)[] = [];
  const state = {
    aborted: false,
    onAbort(callback: () => void) {
      if (state.aborted) callback();
      else callbacks.push(callback);
    },
  };
  res.onAborted(() => {
    state.aborted = true;
    for (const callback of callbacks.splice(0)) callback();
  });
  return state;
}

/** Writes a JSON response (corked: safe after an await) unless the request was aborted. */
export function sendJson(
  res: HttpResponse,
  state: { readonly aborted: boolean },
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  closeConnection = false,
): void {
  if (state.aborted) return;
  const text = JSON.stringify(body);
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json');
    for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
    res.end(text, closeConnection);
  });
}

/** Writes `{"error": {...}}` with the error's status (PROTOCOL.md §1: HTTP errors use the socket's error object). */
export function sendError(res: HttpResponse, state: { readonly aborted: boolean }, err: unknown, closeConnection = false): void {
  const hubError = toHubError(err);
  const headers: Record<string, string> = {};
  if (hubError.retryAfterMs !== undefined) headers['retry-after'] = String(Math.ceil(hubError.retryAfterMs / 1000));
  sendJson(res, state, hubError.status, { error: hubError.toWire() }, headers, closeConnection);
}

/**
 * Reads a whole request body of at most `limit` bytes. uWS hands chunks that are only valid
 * during the callback, so each is copied. Over the limit: `413`. Rejects on abort.
 */
export function readBody(res: HttpResponse, state: { readonly aborted: boolean }, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    res.onData((chunk, isLast) => {
      if (failed) return;
      size += chunk.byteLength;
      if (size > limit) {
        failed = true;
        reject(new HubError('too_large', `The body is over ${limit} bytes`));
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) resolve(Buffer.concat(chunks));
    });
    if (state.aborted) reject(new Error('aborted'));
  });
}

/** The bearer token of a request: `Authorization: Bearer <t>`, else `?token=<t>` (browsers). */
export function bearerToken(authorization: string, query: string): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (match !== null) return match[1];
  if (query === '') return undefined;
  return new URLSearchParams(query).get('token') ?? undefined;
}

/** The peer address as text (uWS gives bytes of text). */
export function remoteAddress(res: HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString();
}
