/**
 * The errors the SDK throws: one class per way a call can fail, so callers can tell a refusal
 * by the hub from a timeout from a closed connection. @see PROTOCOL.md §4
 */

/** One field the hub refused (`details` of a `422`): a JSON Pointer into `data` and why. */
export interface ErrorDetail {
  path: string;
  message: string;
}

/** The hub's error object (PROTOCOL.md §4) as it arrives on the wire. */
export interface WireError {
  status: number;
  code: string;
  message: string;
  details?: ErrorDetail[];
  retry_after_ms?: number;
}

/** The hub answered a request with an error object. */
export class HubRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    readonly retryAfterMs?: number,
    /** The op of the request it answers, when known. */
    readonly op?: string,
  ) {
    super(message);
    this.name = 'HubRequestError';
  }

  static fromWire(error: WireError, op?: string): HubRequestError {
    return new HubRequestError(error.status, error.code, error.message, error.details, error.retry_after_ms, op);
  }

  /** Whether sending the same request later may succeed (`busy`, `rate_limited`). */
  get retryable(): boolean {
    return this.status === 503 || this.status === 429;
  }
}

/** No reply came within the request's timeout (the request may still have been carried out). */
export class TimeoutError extends Error {
  constructor(
    readonly op: string,
    readonly timeoutMs: number,
  ) {
    super(`no reply to ${op} within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * The connection closed before the reply, or was closed for good (by `close()` or a `1008`).
 * `code` is the WebSocket close code when one is known.
 */
export class ClosedError extends Error {
  constructor(
    message: string,
    readonly code?: number,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'ClosedError';
  }
}

/** The hub refused the token (a `401` at upgrade, or close `1008`): reconnecting with it is useless. */
export class AuthError extends ClosedError {
  constructor(message: string, code?: number, reason?: string) {
    super(message, code, reason);
    this.name = 'AuthError';
  }
}
