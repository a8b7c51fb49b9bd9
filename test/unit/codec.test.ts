/** The codec and envelope on byte fixtures: no sockets, no server. @see PROTOCOL.md §3, §10 */
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeMessage } from '../../src/protocol/codec.js';
import { errorReply, okReply, parseRequest } from '../../src/protocol/envelope.js';
import { HubError } from '../../src/errors.js';

const bytes = (...b: number[]) => Uint8Array.from(b);

describe('decodeFrame', () => {
  it('decodes a JSON text frame', () => {
    expect(decodeFrame(new TextEncoder().encode('{"id":1,"op":"auth.me"}'), false)).toEqual({ ok: true, value: { id: 1, op: 'auth.me' } });
  });

  it('decodes a MessagePack binary frame: fixmap {"op": "x"}', () => {
    expect(decodeFrame(bytes(0x81, 0xa2, 0x6f, 0x70, 0xa1, 0x78), true)).toEqual({ ok: true, value: { op: 'x' } });
  });

  it('reads 64-bit MessagePack integers as numbers', () => {
    // {"id": uint64 2^40}
    const frame = bytes(0x81, 0xa2, 0x69, 0x64, 0xcf, 0, 0, 0x01, 0, 0, 0, 0, 0);
    expect(decodeFrame(frame, true)).toEqual({ ok: true, value: { id: 2 ** 40 } });
  });

  it.each([
    ['truncated JSON', new TextEncoder().encode('{"op":'), false, 'The frame is not valid JSON'],
    ['invalid UTF-8 in text', bytes(0x22, 0xff, 0x22), false, 'The frame is not valid UTF-8'],
    ['a reserved MessagePack byte', bytes(0xc1), true, 'The frame is not valid MessagePack'],
    ['truncated MessagePack', bytes(0x82, 0xa2, 0x6f), true, 'The frame is not valid MessagePack'],
    ['two MessagePack values', bytes(0x01, 0x02), true, 'The frame is not one MessagePack value'],
    ['an empty binary frame', bytes(), true, 'The frame is empty'],
  ])('refuses %s', (_name, frame, binary, reason) => {
    expect(decodeFrame(frame, binary)).toMatchObject({ ok: false, reason });
  });

  it('marks invalid UTF-8 in text, which closes the socket (1007) rather than being answered', () => {
    expect(decodeFrame(bytes(0x22, 0xff, 0x22), false)).toEqual({ ok: false, reason: 'The frame is not valid UTF-8', invalidUtf8: true });
    expect(decodeFrame(new TextEncoder().encode('{"op":'), false)).not.toHaveProperty('invalidUtf8');
  });
});

describe('encodeMessage', () => {
  it('writes JSON text for JSON clients', () => {
    expect(encodeMessage(okReply(1, { a: 1 }), 'json')).toBe('{"id":1,"ok":true,"data":{"a":1}}');
  });

  it('writes plain MessagePack maps (no msgpackr records) for MessagePack clients', () => {
    const packed = encodeMessage({ op: 'x' }, 'msgpack') as Uint8Array;
    expect(Buffer.from(packed)).toEqual(Buffer.from([0x81, 0xa2, 0x6f, 0x70, 0xa1, 0x78]));
  });
});

describe('parseRequest', () => {
  it('accepts id, op and data; data defaults to {}', () => {
    expect(parseRequest({ id: 'a', op: 'x' })).toEqual({ ok: true, request: { id: 'a', op: 'x', data: {} } });
    expect(parseRequest({ op: 'x', data: { k: 1 } })).toEqual({ ok: true, request: { id: undefined, op: 'x', data: { k: 1 } } });
  });

  it.each([[42], [null], [[1]], ['op']])('refuses the non-object %j with id null', (value) => {
    const parsed = parseRequest(value);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect([parsed.id, parsed.error.code]).toEqual([null, 'bad_request']);
  });

  it('echoes a valid id when op is missing, and refuses a bad id with id null', () => {
    const missingOp = parseRequest({ id: 9 });
    expect(missingOp.ok === false && [missingOp.id, missingOp.error.code]).toEqual([9, 'bad_request']);
    const badId = parseRequest({ id: 'x'.repeat(65), op: 'auth.me' });
    expect(badId.ok === false && [badId.id, badId.error.code]).toEqual([null, 'bad_request']);
    const infinite = parseRequest({ id: Number.POSITIVE_INFINITY, op: 'auth.me' });
    expect(infinite.ok).toBe(false);
  });

  it('answers data of the wrong type with 422, keeping the id', () => {
    const parsed = parseRequest({ id: 1, op: 'x', data: [1] });
    expect(parsed.ok === false && [parsed.id, parsed.error.code, parsed.error.status]).toEqual([1, 'invalid', 422]);
  });
});

describe('replies', () => {
  it('error replies carry the error object and id null when there is none', () => {
    expect(errorReply(undefined, new HubError('busy', 'full', { retryAfterMs: 12.2 }))).toEqual({
      id: null,
      ok: false,
      error: { status: 503, code: 'busy', message: 'full', retry_after_ms: 13 },
    });
  });
});
