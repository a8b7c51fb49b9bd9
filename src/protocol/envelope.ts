/**
 * The envelope every message travels in: requests, replies and pushes.
 * @see PROTOCOL.md §3, §10
 */
import { HubError, badRequest, type WireError } from '../errors.js';

export type RequestId = number | string;

export interface Request {
  /** `undefined`: fire-and-forget, no reply on success. */
  readonly id: RequestId | undefined;
  readonly op: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface OkReply {
  id: RequestId | null;
  ok: true;
  data: unknown;
}

export interface ErrorReply {
  id: RequestId | null;
  ok: false;
  error: WireError;
}

export interface Push {
  op: string;
  data: unknown;
}

export type Outgoing = OkReply | ErrorReply | Push;

export type Parsed = { ok: true; request: Request } | { ok: false; id: RequestId | null; error: HubError };

export const MAX_ID_LENGTH = 64;

function isValidId(id: unknown): id is RequestId {
  return (typeof id === 'number' && Number.isFinite(id)) || (typeof id === 'string' && id.length <= MAX_ID_LENGTH);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/**
 * Checks a decoded frame is a request. An invalid `id` is answered with `id: null`; a frame
 * with a valid `id` but no `op` gets its `id` echoed.
 */
export function parseRequest(value: unknown): Parsed {
  if (!isPlainObject(value)) return { ok: false, id: null, error: badRequest('A request must be an object with a string "op"') };
  const rawId = value.id;
  if (rawId !== undefined && rawId !== null && !isValidId(rawId)) {
    return { ok: false, id: null, error: badRequest(`"id" must be a number or a string of at most ${MAX_ID_LENGTH} characters`) };
  }
  const id = rawId === null ? undefined : (rawId as RequestId | undefined);
  if (typeof value.op !== 'string' || value.op === '') {
    return { ok: false, id: id ?? null, error: badRequest('A request must have a string "op"') };
  }
  const data = value.data ?? {};
  if (!isPlainObject(data)) {
    return {
      ok: false,
      id: id ?? null,
      error: new HubError('invalid', '"data" must be an object', { details: [{ path: '', message: 'must be an object' }] }),
    };
  }
  return { ok: true, request: { id, op: value.op, data } };
}

export const okReply = (id: RequestId | undefined, data: unknown): OkReply => ({ id: id ?? null, ok: true, data });

export const errorReply = (id: RequestId | undefined | null, error: HubError): ErrorReply => ({
  id: id ?? null,
  ok: false,
  error: error.toWire(),
});
