/**
 * Bad input on the socket: every case gets a clear error in the contract's format (never a crash,
 * a hang or a partial write), and the socket stays usable afterwards.
 * @see PROTOCOL.md §3, §4, §10
 */
import { pack, unpack } from 'msgpackr';
import type WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nextMessage, rawSocket, startTestHub, type TestHub } from '../support/hub.js';

let h: TestHub;
let ws: WebSocket;

beforeAll(async () => {
  h = await startTestHub({ HUB_MAX_FRAME_BYTES: String(1_048_576) });
});
afterAll(async () => {
  await h?.stop();
});
afterEach(() => {
  ws?.terminate();
});

/** Sends a text frame and returns the decoded JSON reply. */
async function askText(frame: string | Buffer): Promise<Record<string, any>> {
  const reply = nextMessage(ws);
  ws.send(frame, { binary: false });
  const { binary, data } = await reply;
  expect(binary).toBe(false);
  return JSON.parse(data.toString()) as Record<string, any>;
}

/** Sends a binary frame and returns the decoded MessagePack reply. */
async function askBinary(frame: Uint8Array): Promise<Record<string, any>> {
  const reply = nextMessage(ws);
  ws.send(frame, { binary: true });
  const { binary, data } = await reply;
  expect(binary).toBe(true);
  return unpack(data) as Record<string, any>;
}

/** The socket still answers a valid request. */
async function stillUsable(): Promise<void> {
  const reply = await askText(JSON.stringify({ id: 'alive', op: 'auth.me' }));
  expect(reply).toMatchObject({ id: 'alive', ok: true, data: { role: 'admin' } });
}

describe('frames the hub cannot read', () => {
  beforeAll(() => undefined);

  it.each([
    ['invalid JSON', '{"op": "auth.me",'],
    ['a number', '42'],
    ['an array', '[{"op":"auth.me"}]'],
    ['null', 'null'],
    ['a string', '"auth.me"'],
    ['empty', ''],
  ])('%s → 400 bad_request with id null', async (_name, frame) => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const reply = await askText(frame);
    expect(reply).toMatchObject({ id: null, ok: false, error: { status: 400, code: 'bad_request' } });
    expect(typeof reply.error.message).toBe('string');
    await stillUsable();
  });

  it('invalid MessagePack → 400, answered as MessagePack', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const reply = await askBinary(Buffer.from([0xc1, 0xff, 0x00]));
    expect(reply).toMatchObject({ id: null, ok: false, error: { status: 400, code: 'bad_request' } });
    await stillUsable();
  });

  it('trailing bytes after one MessagePack value → 400', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const frame = Buffer.concat([pack({ id: 1, op: 'auth.me' }), Buffer.from([0x01])]);
    expect(await askBinary(frame)).toMatchObject({ id: null, error: { code: 'bad_request' } });
  });

  it('invalid UTF-8 in a text frame is refused by the WebSocket layer (RFC 6455: close 1007)', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    // ws (the client) would refuse to send invalid UTF-8 as text; write the frame by hand.
    const payload = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
    (ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(frame);
    expect([1007, 1006]).toContain(await closed);
    // The hub is unharmed: a new socket works.
    ws = await rawSocket(h.wsUrl, h.adminToken);
    await stillUsable();
  });
});

describe('envelopes', () => {
  it('a missing op → 400 with the id echoed', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    expect(await askText(JSON.stringify({ id: 7 }))).toMatchObject({ id: 7, ok: false, error: { status: 400, code: 'bad_request' } });
    expect(await askText(JSON.stringify({ id: 'x', op: 12 }))).toMatchObject({ id: 'x', error: { code: 'bad_request' } });
    await stillUsable();
  });

  it('an unknown op → 400 unknown_op', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    expect(await askText(JSON.stringify({ id: 1, op: 'events.explode' }))).toMatchObject({
      id: 1,
      ok: false,
      error: { status: 400, code: 'unknown_op' },
    });
  });

  it('an id that is not a number or a string of at most 64 chars → 400 with id null', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    for (const id of ['x'.repeat(10_000), 'y'.repeat(65), { a: 1 }, [1], true]) {
      expect(await askText(JSON.stringify({ id, op: 'auth.me' }))).toMatchObject({ id: null, error: { code: 'bad_request' } });
    }
    expect(await askText(JSON.stringify({ id: 'z'.repeat(64), op: 'auth.me' }))).toMatchObject({ id: 'z'.repeat(64), ok: true });
    await stillUsable();
  });

  it('data of the wrong type → 422', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    for (const data of [[1, 2], 'events', 5]) {
      expect(await askText(JSON.stringify({ id: 2, op: 'events.list', data }))).toMatchObject({
        id: 2,
        error: { status: 422, code: 'invalid' },
      });
    }
  });

  it('a request without id gets no reply on success, and its error with id null', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const replies: unknown[] = [];
    ws.on('message', (data) => replies.push(JSON.parse(data.toString())));
    ws.send(JSON.stringify({ op: 'auth.me' }));
    ws.send(JSON.stringify({ op: 'events.get', data: { public_id: '00000000-0000-4000-8000-000000000000' } }));
    ws.send(JSON.stringify({ id: 'last', op: 'auth.me' }));
    await expect.poll(() => replies.length).toBe(2);
    await new Promise((r) => setTimeout(r, 100));
    expect(replies).toHaveLength(2);
    expect(replies).toContainEqual(expect.objectContaining({ id: null, ok: false, error: expect.objectContaining({ code: 'not_found' }) }));
    expect(replies).toContainEqual(expect.objectContaining({ id: 'last', ok: true }));
  });

  it('answers MessagePack requests in MessagePack', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    expect(await askBinary(pack({ id: 3, op: 'auth.me' }))).toMatchObject({ id: 3, ok: true, data: { role: 'admin' } });
  });
});

describe('field validation', () => {
  it('lists every missing required field', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const reply = await askText(JSON.stringify({ id: 1, op: 'rules.create', data: {} }));
    expect(reply.error).toMatchObject({ status: 422, code: 'invalid' });
    const paths = (reply.error.details as { path: string }[]).map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['/name', '/event_public_id', '/operator', '/threshold']));
  });

  it('names wrong field types by JSON Pointer', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const reply = await askText(JSON.stringify({ id: 1, op: 'events.create', data: { name: 5, min_value: 'low', event_type: 'lava' } }));
    expect(reply.error.code).toBe('invalid');
    expect((reply.error.details as { path: string }[]).map((d) => d.path).sort()).toEqual(['/event_type', '/min_value', '/name']);
  });

  it('refuses unknown fields and ignores read-only ones', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const unknown = await askText(JSON.stringify({ id: 1, op: 'events.create', data: { name: 'e-unknown', colour: 'red' } }));
    expect(unknown.error).toMatchObject({ code: 'invalid', details: [{ path: '/colour', message: 'is not a known field' }] });
    const readOnly = await askText(
      JSON.stringify({ id: 2, op: 'events.create', data: { name: 'e-ro', public_id: 'mine', created_on: '1999-01-01T00:00:00Z', id: 5 } }),
    );
    // `id` is no wire field at all: refused like any unknown one.
    expect(readOnly.error.details).toEqual([{ path: '/id', message: 'is not a known field' }]);
    const ok = await askText(JSON.stringify({ id: 3, op: 'events.create', data: { name: 'e-ro', public_id: 'mine', created_on: '1999-01-01T00:00:00Z' } }));
    expect(ok.ok).toBe(true);
    expect(ok.data.public_id).not.toBe('mine');
    expect(ok.data.created_on).not.toBe('1999-01-01T00:00:00.000Z');
  });

  it('refuses a 1 MB string with 422 and stores nothing', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const reply = await askText(JSON.stringify({ id: 1, op: 'events.create', data: { name: 'n'.repeat(1_000_000) } }));
    expect(reply.error).toMatchObject({ code: 'invalid', details: [{ path: '/name' }] });
    await stillUsable();
  });

  it('refuses NUL bytes in text with 422', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const reply = await askText(JSON.stringify({ id: 1, op: 'events.create', data: { name: 'nul\u0000here' } }));
    expect(reply.error).toMatchObject({ status: 422, code: 'invalid' });
    await stillUsable();
  });

  it('takes invalid UTF-8 in a MessagePack string as U+FFFD, never a 500 or a crash', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    // {"id":1,"op":"events.create","data":{"name": <str8 "a\xff\xfe">}}
    const frame = Buffer.concat([
      Buffer.from([0x83, 0xa2, 0x69, 0x64, 0x01, 0xa2, 0x6f, 0x70]),
      Buffer.from([0xad, ...Buffer.from('events.create')]),
      Buffer.from([0xa4, ...Buffer.from('data'), 0x81, 0xa4, ...Buffer.from('name'), 0xa3, 0x61, 0xff, 0xfe]),
    ]);
    const reply = await askBinary(frame);
    expect(reply.id).toBe(1);
    if (reply.ok) expect(reply.data.name).toMatch(/^a\uFFFD+$/);
    else expect(reply.error.status).toBe(422);
    await stillUsable();
  });

  it('stores SQL fragments verbatim and harmlessly', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const name = "Robert'); DROP TABLE events;--";
    const created = await askText(JSON.stringify({ id: 1, op: 'events.create', data: { name, unit: '" OR 1=1 --' } }));
    expect(created.data).toMatchObject({ name, unit: '" OR 1=1 --' });
    const listed = await askText(JSON.stringify({ id: 2, op: 'events.list', data: { filter: { name } } }));
    expect(listed.data.total).toBe(1);
  });

  it.each([
    [{ page: 0 }, '/page'],
    [{ page: -3 }, '/page'],
    [{ page_size: 0 }, '/page_size'],
    [{ page_size: 501 }, '/page_size'],
  ])('refuses paging %j with 422', async (data, path) => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const reply = await askText(JSON.stringify({ id: 1, op: 'events.list', data }));
    expect(reply.error).toMatchObject({ status: 422, code: 'invalid', details: [{ path }] });
  });

  it('answers a huge page with no items', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const reply = await askText(JSON.stringify({ id: 1, op: 'events.list', data: { page: 1e15, page_size: 500 } }));
    expect(reply.data).toMatchObject({ items: [], page: 1e15, page_size: 500 });
  });
});

describe('limits', () => {
  // Up to twice the limit uWS hands the frame over and the hub closes with 1009; past that uWS
  // cuts the connection itself (abuse-streams.test.ts), bounding what one socket can pin.
  it.each([1_100_000, 2_000_000])('closes with 1009 on a frame of %i bytes, over HUB_MAX_FRAME_BYTES', async (size) => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(JSON.stringify({ id: 1, op: 'events.create', data: { name: 'x'.repeat(size) } }));
    expect(await closed).toBe(1009);
    ws = await rawSocket(h.wsUrl, h.adminToken);
    await stillUsable();
  });

  it('answers 10 000 unread requests without buffering without bound, and stays usable', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    // Send everything before reading anything.
    const frames = Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ id: i, op: 'auth.me' }));
    ws.pause();
    for (const frame of frames) ws.send(frame);
    await new Promise((r) => setTimeout(r, 500));
    const replies = new Map<number, Record<string, any>>();
    ws.on('message', (data) => {
      const reply = JSON.parse(data.toString()) as Record<string, any>;
      replies.set(reply.id as number, reply);
    });
    ws.resume();
    await expect.poll(() => replies.size, { timeout: 20_000 }).toBe(10_000);
    const outcomes = new Set([...replies.values()].map((r) => (r.ok ? 'ok' : r.error.code)));
    for (const outcome of outcomes) expect(['ok', 'rate_limited']).toContain(outcome);
    const limited = [...replies.values()].find((r) => !r.ok);
    if (limited !== undefined) expect(limited.error.retry_after_ms).toBeGreaterThan(0);
    ws.removeAllListeners('message');
    await stillUsable();
  });
});
