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
  503: 'Service Unavailable',
};

/** `200 OK`, the status line uWS wants. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Unknown'}`;
}

/** Tracks whether the client went away; register first thing in any handler that awaits. */
export function trackAborted(res: HttpResponse): { readonly aborted: boolean } {
  const state = { aborted: false };
  res.onAborted(() => {
    state.aborted = true;
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
): void {
  if (state.aborted) return;
  const text = JSON.stringify(body);
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json');
    for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
    res.end(text);
  });
}

/** Writes `{"error": {...}}` with the error's status (PROTOCOL.md §1: HTTP errors use the socket's error object). */
export function sendError(res: HttpResponse, state: { readonly aborted: boolean }, err: unknown): void {
  const hubError = err instanceof HubError ? err : toHubError(err);
  const headers: Record<string, string> = {};
  if (hubError.retryAfterMs !== undefined) headers['retry-after'] = String(Math.ceil(hubError.retryAfterMs / 1000));
  sendJson(res, state, hubError.status, { error: hubError.toWire() }, headers);
}
