/**
 * Stalled readers, socket floods and absurd subscribe values from authenticated users: each is
 * bounded (a contract error, a close code, a refused upgrade) and never stalls anyone else.
 * @see PROTOCOL.md §4, §7, §10; issue 8 defects 3, 5, 9 and 10
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { nextMessage, rawSocket, startTestHub, type TestHub } from '../support/hub.js';

let h: TestHub;
let admin: HubClient;
let event: string;
const HISTORY = 300_000;
/**
 * A stalled replay is cut after this. Long enough that the test's own steps (several sockets,
 * each waiting for its reply) fit inside it on a loaded machine: a slot freed too early made
 * the 503 below a 200 in a CI dry run at 1.5 s.
 */
const STALL_MS = 6_000;

beforeAll(async () => {
  h = await startTestHub({
    HUB_REPLAY_STALL_MS: String(STALL_MS),
    HUB_MAX_SOCKETS_PER_USER: '5',
    HUB_MAX_SOCKETS_PER_ADDRESS: '40',
    HUB_MAX_FRAME_BYTES: String(1 << 20),
  });
  admin = await h.connect(h.adminToken);
  event = (await admin.request<{ public_id: string }>('events.create', { name: 'history' })).public_id;
  // A large history, written straight to the table (fast), one point a second.
  await h.database.pool.query(
    `INSERT INTO datapoints (event_public_id, value, "timestamp")
     SELECT $1, g, to_timestamp(1700000000 + g) FROM generate_series(1, $2) g`,
    [event, HISTORY],
  );
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

/** A socket that never reads: the hub's writes pile up in its buffers. */
async function stalledSocket(token: string): Promise<{ ws: WebSocket; send(frame: object): void; resume(): Promise<number> }> {
  const ws = await rawSocket(h.wsUrl, token);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const raw = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  raw.pause();
  return {
    ws,
    send: (frame) => ws.send(JSON.stringify(frame)),
    resume: () => {
      raw.resume();
      return closed;
    },
  };
}

async function ask(ws: WebSocket, frame: object): Promise<Record<string, any>> {
  // Skip pushes: the reply is the message with this id.
  const id = (frame as { id: unknown }).id;
  for (;;) {
    const { data } = await nextMessage(ws);
    const message = JSON.parse(data.toString()) as Record<string, any>;
    if (message.id === id) return message;
  }
}

describe('replays cannot starve the hub (defect 3)', () => {
  it('stalled since-replays are bounded per caller, leave queries and CRUD working, and end with 1013', async () => {
    const viewer = await h.userWithRole('viewer');
    const stalled = await stalledSocket(viewer.token);
    for (let i = 0; i < 3; i++) stalled.send({ id: i, op: 'subscribe', data: { events: [event], since: 0 } });
    // Meanwhile another user's history, latest, CRUD and login all answer.
    const other = await h.connect((await h.userWithRole('operator')).token);
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const { points } = await other.request<{ points: unknown[] }>('datapoints.query', { event_public_id: event, limit: 10 });
      expect(points).toHaveLength(10);
      await expect(other.request('events.create', { name: `while-stalled-${i}` })).resolves.toMatchObject({ name: `while-stalled-${i}` });
      expect(Date.now() - started).toBeLessThan(5000);
    }
    await expect(h.login(viewer.user.username as string, viewer.password)).resolves.toBeTypeOf('string');
    // The stalled reader's replays end (the hub closes it with 1013, HUB_REPLAY_STALL_MS after it
    // stopped taking bytes) instead of holding connections.
    await new Promise((r) => setTimeout(r, STALL_MS + 2500));
    expect(await stalled.resume()).toBe(1013);
    await other.close();
  }, 60_000);

  it('a third concurrent replay of one caller gets 429, and with every replay slot taken 503', async () => {
    /** Sends one replay subscribe per socket (of one user), collects the replies, then stops reading. */
    const replaying = async (n: number, token?: string): Promise<{ sockets: WebSocket[]; replies: Record<string, any>[] }> => {
      const userToken = token ?? (await h.userWithRole('viewer')).token;
      const sockets: WebSocket[] = [];
      const replies: Record<string, any>[] = [];
      for (let i = 0; i < n; i++) {
        const ws = await rawSocket(h.wsUrl, userToken);
        sockets.push(ws);
        ws.on('message', (data) => {
          const m = JSON.parse(data.toString()) as Record<string, any>;
          if ('ok' in m && m.id !== null) replies.push(m);
        });
        ws.send(JSON.stringify({ id: i, op: 'subscribe', data: { events: [event], since: 0 } }));
        await expect.poll(() => replies.length).toBe(i + 1);
        (ws as unknown as { _socket: { pause(): void } })._socket.pause();
      }
      return { sockets, replies };
    };
    const viewer = await h.userWithRole('viewer');
    const a = await replaying(3, viewer.token);
    expect(a.replies.map((r) => r.ok)).toEqual([true, true, false]);
    expect(a.replies[2]).toMatchObject({ error: { status: 429, code: 'rate_limited' } });
    expect(a.replies[2]?.error.retry_after_ms).toBeGreaterThan(0);
    const b = await replaying(1);
    expect(b.replies[0]?.ok).toBe(true);
    // All three replay slots are held by stalled readers: the next caller is told to come back.
    const c = await replaying(1);
    expect(c.replies[0]).toMatchObject({ ok: false, error: { status: 503, code: 'busy' } });
    // Live subscriptions (no since) need no slot.
    await expect(admin.request('subscribe', { events: [event] })).resolves.toEqual({ subscribed: [event] });
    // Once the stalled readers are closed (1013), the slots are free again.
    await new Promise((r) => setTimeout(r, STALL_MS + 2500));
    const d = await replaying(1);
    expect(d.replies[0]?.ok).toBe(true);
    for (const { sockets } of [a, b, c, d]) for (const ws of sockets) ws.terminate();
  }, 90_000);

  it('one replay at a time per socket: a second while the first runs is 429', async () => {
    const ws = await rawSocket(h.wsUrl, (await h.userWithRole('viewer')).token);
    const replies: Record<string, any>[] = [];
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Record<string, any>;
      if ('ok' in m && m.id !== null) replies.push(m);
    });
    ws.send(JSON.stringify({ id: 1, op: 'subscribe', data: { events: [event], since: 0 } }));
    ws.send(JSON.stringify({ id: 2, op: 'subscribe', data: { events: [event], since: 0 } }));
    await expect.poll(() => replies.length).toBe(2);
    expect(replies.map((r) => [r.id, r.ok])).toEqual([
      [1, true],
      [2, false],
    ]);
    expect(replies[1]).toMatchObject({ error: { status: 429 } });
    ws.terminate();
  });
});

describe('one caller cannot hold the main pool (review of defect 3)', () => {
  it('bounds a caller’s requests in flight over all its sockets; other callers are served meanwhile', async () => {
    const { token } = await h.userWithRole('admin');
    const sockets = await Promise.all([h.connect(token), h.connect(token)]);
    // Slow requests (each hashes a password) from two sockets of one caller at once.
    const outcomes = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        (sockets[i % 2] as HubClient)
          .request('users.create', { username: `flood-${i}-${Math.random().toString(36).slice(2, 8)}`, password: 'flood-password' })
          .then(() => 'ok', (e: { code?: string }) => e.code ?? 'error'),
      ),
    );
    expect(outcomes.filter((o) => o === 'rate_limited').length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o === 'ok').length).toBeGreaterThan(0);
    expect(outcomes.every((o) => o === 'ok' || o === 'rate_limited' || o === 'busy')).toBe(true);
    await expect(admin.request('events.list', {})).resolves.toMatchObject({ page: 1 });
    for (const s of sockets) await s.close();
  });
});

describe('subscribe values are bounded (defects 5 and 9)', () => {
  it.each([
    ['since beyond any date', { since: 1e20 }],
    ['since negative', { since: -1 }],
    ['max_rate_hz near zero', { max_rate_hz: 1e-300 }],
    ['max_rate_hz zero', { max_rate_hz: 0 }],
  ])('%s → 422', async (_name, extra) => {
    await expect(admin.request('subscribe', { events: [event], ...extra })).rejects.toMatchObject({ status: 422, code: 'invalid' });
  });

  it('datapoints.query with absurd ranges or buckets → 422, not 500', async () => {
    for (const data of [{ from: 1e20 }, { to: 1e300 }, { bucket_ms: 1e20 }]) {
      await expect(admin.request('datapoints.query', { event_public_id: event, ...data })).rejects.toMatchObject({ status: 422 });
    }
  });
});

describe('sockets per caller and frames are bounded (defect 5)', () => {
  it('a user may hold HUB_MAX_SOCKETS_PER_USER sockets; the next upgrade is 429 until one closes', async () => {
    const { token } = await h.userWithRole('viewer');
    const sockets = await Promise.all(Array.from({ length: 5 }, () => rawSocket(h.wsUrl, token)));
    await expect(rawSocket(h.wsUrl, token)).rejects.toMatchObject({ statusCode: 429 });
    const closed = new Promise((r) => sockets[0]?.once('close', r));
    sockets[0]?.close();
    await closed;
    await expect.poll(async () => rawSocket(h.wsUrl, token).then((ws) => (sockets.push(ws), 'open'), () => 'refused')).toBe('open');
    for (const ws of sockets) ws.terminate();
  });

  it('an address may hold HUB_MAX_SOCKETS_PER_ADDRESS sockets, also with bad tokens', async () => {
    const held: WebSocket[] = [];
    const users = await Promise.all(Array.from({ length: 8 }, () => h.userWithRole('viewer')));
    let refused = 0;
    for (const user of users) {
      for (let i = 0; i < 5; i++) {
        await rawSocket(h.wsUrl, user.token).then(
          (ws) => held.push(ws),
          (err: { statusCode?: number }) => {
            expect(err.statusCode).toBe(429);
            refused++;
          },
        );
      }
    }
    // 40 per address, some already held by the admin's client.
    expect(held.length).toBeLessThanOrEqual(40);
    expect(refused).toBeGreaterThan(0);
    for (const ws of held) ws.terminate();
    // Places are given back: a new socket opens again.
    await expect.poll(async () => rawSocket(h.wsUrl, h.adminToken).then((ws) => (ws.terminate(), 'open'), () => 'refused')).toBe('open');
  });

  it('a frame far over the limit is cut without the hub holding it; the hub serves on', async () => {
    const ws = await rawSocket(h.wsUrl, h.adminToken);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(Buffer.alloc(5 << 20, 0x20), { binary: false });
    expect([1006, 1009]).toContain(await closed);
    await expect(admin.request('auth.me')).resolves.toMatchObject({ role: 'admin' });
  });

  // uWS checks UTF-8 itself and fails such a connection without a close frame (the client sees
  // 1006) before the hub sees the frame; the hub's own 1007 covers the frames uWS lets through.
  it('a text frame that is not UTF-8 ends the connection (1007, or 1006 from uWS)', async () => {
    const ws = await rawSocket(h.wsUrl, h.adminToken);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const payload = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
    (ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    expect([1006, 1007]).toContain(await closed);
    await expect(admin.request('auth.me')).resolves.toMatchObject({ role: 'admin' });
  });
});

describe('a device loses what its mapping no longer allows (defect 10)', () => {
  it('stops receiving pushes for an event once its channel mapping is deleted', async () => {
    const instance = await admin.request<{ public_id: string }>('plugin_instances.create', { plugin_id: 'p', instance_name: 'unmapped' });
    const target = (await admin.request<{ public_id: string }>('events.create', { name: 'actuated', event_type: 'actuator' })).public_id;
    const mapping = await admin.request<{ public_id: string }>('channel_mappings.create', {
      plugin_instance_public_id: instance.public_id,
      channel_id: 'out',
      direction: 'output',
      event_public_id: target,
    });
    const { token } = await admin.request<{ token: string }>('api_tokens.create', { name: 'd', plugin_instance_public_id: instance.public_id });
    const device = await h.connect(token);
    const received: number[] = [];
    device.onPush((push) => {
      if (push.op === 'readings') for (const [, value] of (push.data as { points: [number, number][] }).points) received.push(value);
    });
    await device.request('subscribe', { events: [target] });
    await admin.request('ingest', { points: [{ event: target, value: 1 }] });
    await expect.poll(() => received).toEqual([1]);
    await admin.request('channel_mappings.delete', { public_id: mapping.public_id });
    await admin.request('ingest', { points: [{ event: target, value: 2 }] });
    const marker = (await admin.request<{ public_id: string }>('events.create', { name: 'marker' })).public_id;
    expect(marker).toBeTypeOf('string');
    await new Promise((r) => setTimeout(r, 300));
    expect(received).toEqual([1]);
    await device.close();
  });
});
