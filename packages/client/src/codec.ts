/**
 * Frames ↔ messages: JSON in text frames, MessagePack in binary frames. @see PROTOCOL.md §3
 */
import { Packr, Unpackr } from 'msgpackr';
import type { WireError } from './errors.js';

export type Encoding = 'json' | 'msgpack';

/** A message from the hub: a reply (with `ok`) or a push (an `op`, never an `id`). */
export interface IncomingMessage {
  id?: number | string | null;
  ok?: boolean;
  op?: string;
  data?: unknown;
  error?: WireError;
}

// Plain maps, no records extension: the hub's decoder expects ordinary MessagePack.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Encodes one message as a frame of `encoding`. */
export function encode(message: unknown, encoding: Encoding): string | Uint8Array {
  return encoding === 'json' ? JSON.stringify(message) : packr.pack(message);
}

/** Decodes one frame (a string, an ArrayBuffer, or a Node Buffer / typed array). */
export function decode(frame: unknown): IncomingMessage {
  if (typeof frame === 'string') return JSON.parse(frame) as IncomingMessage;
  const bytes = frame instanceof ArrayBuffer ? new Uint8Array(frame) : (frame as Uint8Array);
  return unpackr.unpack(bytes) as IncomingMessage;
}
