/**
 * Frames ↔ messages. A text frame carries one JSON message, a binary frame one MessagePack
 * message; the hub answers in the encoding of the request. Pure: bytes in, values out.
 * @see PROTOCOL.md §3
 */
import { Packr, Unpackr } from 'msgpackr';

export type Encoding = 'json' | 'msgpack';

export type Decoded = { ok: true; value: unknown } | { ok: false; reason: string; invalidUtf8?: true };

// Plain MessagePack maps and arrays (no msgpackr records or bundled strings), so any client's
// MessagePack library reads what we send; 64-bit integers come back as numbers.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one frame; never throws. The frame's bytes are read before it returns (uWS frees them). */
export function decodeFrame(frame: ArrayBuffer | Uint8Array, binary: boolean): Decoded {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  if (binary) {
    try {
      // unpackMultiple would accept trailing garbage silently; a frame is exactly one value.
      if (bytes.length === 0) return { ok: false, reason: 'The frame is empty' };
      const values = unpackr.unpackMultiple(bytes);
      if (values === undefined || values.length !== 1) return { ok: false, reason: 'The frame is not one MessagePack value' };
      // msgpackr turns the never-used byte 0xc1 into a marker object instead of failing.
      if (containsNeverUsed(values[0])) return { ok: false, reason: 'The frame is not valid MessagePack' };
      return { ok: true, value: values[0] };
    } catch {
      return { ok: false, reason: 'The frame is not valid MessagePack' };
    }
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'The frame is not valid UTF-8', invalidUtf8: true };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: 'The frame is not valid JSON' };
  }
}

function containsNeverUsed(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (value.constructor?.name === 'C1Type') return true;
  // Only the envelope's top level matters for a verdict; nested 0xc1 fails validation later.
  return false;
}

/** Encodes one message for a frame of the given encoding (JSON text or MessagePack bytes). */
export function encodeMessage(message: unknown, encoding: Encoding): string | Uint8Array {
  return encoding === 'json' ? JSON.stringify(message) : packr.pack(message);
}
