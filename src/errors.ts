/**
 * The error registry: every error the hub sends, with its status, default message and whether a
 * retry can help. Sockets and HTTP both send {@link HubError.toWire}.
 * @see PROTOCOL.md §4
 */

export const ERRORS = {
  bad_request: { status: 400, message: 'The message is malformed', retryable: false },
  unknown_op: { status: 400, message: 'No such operation', retryable: false },
  unauthorized: { status: 401, message: 'Authentication required', retryable: false },
  forbidden: { status: 403, message: 'Not allowed for this caller', retryable: false },
  not_found: { status: 404, message: 'Not found', retryable: false },
  conflict: { status: 409, message: 'Conflicts with the current state', retryable: false },
  too_large: { status: 413, message: 'Too large', retryable: false },
  invalid: { status: 422, message: 'Validation failed', retryable: false },
  rate_limited: { status: 429, message: 'Too many requests', retryable: true },
  internal: { status: 500, message: 'Internal error', retryable: true },
  device_error: { status: 502, message: 'The device answered with an error', retryable: false },
  busy: { status: 503, message: 'The hub is busy; retry later', retryable: true },
  timeout: { status: 504, message: 'The device did not answer in time', retryable: true },
} as const satisfies Record<string, { status: number; message: string; retryable: boolean }>;

export type ErrorCode = keyof typeof ERRORS;

/** One field's problem, `path` a JSON Pointer into the request's `data`. */
export interface ErrorDetail {
  readonly path: string;
  readonly message: string;
}

/** The error object on the wire (PROTOCOL.md §4). */
export interface WireError {
  status: number;
  code: ErrorCode;
  message: string;
  details?: ErrorDetail[];
  retry_after_ms?: number;
}

export interface HubErrorOptions {
  details?: readonly ErrorDetail[];
  retryAfterMs?: number;
  cause?: unknown;
}

/** An error the hub answers with; anything else thrown becomes `internal`. */
export class HubError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: readonly ErrorDetail[] | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message?: string, options: HubErrorOptions = {}) {
    super(message ?? ERRORS[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HubError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.retryable = ERRORS[code].retryable;
    this.details = options.details;
    this.retryAfterMs = options.retryAfterMs;
  }

  toWire(): WireError {
    const wire: WireError = { status: this.status, code: this.code, message: this.message };
    if (this.details !== undefined && this.details.length > 0) wire.details = [...this.details];
    if (this.retryAfterMs !== undefined) wire.retry_after_ms = Math.max(0, Math.ceil(this.retryAfterMs));
    return wire;
  }
}

export const badRequest = (message: string): HubError => new HubError('bad_request', message);
export const forbidden = (message?: string): HubError => new HubError('forbidden', message);
export const unauthorized = (message?: string): HubError => new HubError('unauthorized', message);
export const conflict = (message: string, cause?: unknown): HubError => new HubError('conflict', message, { cause });
export const tooLarge = (message: string): HubError => new HubError('too_large', message);

/** `404` with the message clients match on: `Event '<public_id>' not found`. */
export const notFound = (entity: string, publicId: string): HubError =>
  new HubError('not_found', `${entity} '${publicId}' not found`);

/** `422` with one detail per bad field. */
export const invalid = (details: readonly ErrorDetail[], message = 'Validation failed'): HubError =>
  new HubError('invalid', message, { details });

/** Whatever was thrown, as a HubError; unknown errors become `internal` without leaking their text. */
export function toHubError(err: unknown): HubError {
  if (err instanceof HubError) return err;
  return new HubError('internal', undefined, { cause: err });
}
