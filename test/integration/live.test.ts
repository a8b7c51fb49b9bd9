/** Live subscriptions, resume, conflation, history and latest. @see PROTOCOL.md §7 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient, Push } from '../../src/client/hub-client.js';
import { nextMessage, rawSocket, startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
let h: TestHub;
let admin: HubClient;
let a: string;
let b: string;

beforeAll(async () => {
  // A test below starts a second hub on this database: with NATS_URL, as §15 requires.
  h = await startTestHub({ NATS_URL: 'nats://127.0.0.1:4222' });
  admin = await h.connect(h.adminToken);
  a = (await admin.request<Rec>('events.create', { name: 'live-a' })).public_id;
  b = (await admin.request<Rec>('events.create', { name: 'live-b' })).public_id;
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

/** Collects `readings` pushes of a client into per-event point lists. */
function collect(client: HubClient): { points: Map<string, [number, number][]>; pushes: Push[] } {
  const points = new Map<string, [number, number][]>();
  const pushes: Push[] = [];
  client.onPush((push) => {
    pushes.push(push);
    if (push.op !== 'readings') return;
    const data = push.data as { event: string; points: [number, number][] };
    const list = points.get(data.event) ?? [];
    list.push(...data.points);
    points.set(data.event, list);
  });
  return { points, pushes };
}

const ingest = (event: string, values: number[], ts0 = Date.now()) =>
  admin.request('ingest', { points: values.map((value, i) => ({ event, value, ts: ts0 + i })) });

describe('subscribe', () => {
  it('pushes committed points of subscribed events only, in order, to JSON and MessagePack subscribers', async () => {
    const json = await h.connect(h.adminToken);
    const msgpack = await h.connect(h.adminToken, 'msgpack');
    const cj = collect(json);
    const cm = collect(msgpack);
    expect(await json.request('subscribe', { events: [a] })).toEqual({ subscribed: [a] });
    await msgpack.request('subscribe', { events: [a] });
    const ts0 = Date.now();
    await ingest(a, [1, 2, 3], ts0);
    await ingest(b, [100], ts0);
    await ingest(a, [4, 5], ts0 + 10);
    const expected = [
      [ts0, 1],
      [ts0 + 1, 2],
      [ts0 + 2, 3],
      [ts0 + 10, 4],
      [ts0 + 11, 5],
    ];
    await expect.poll(() => cj.points.get(a)).toEqual(expected);
    await expect.poll(() => cm.points.get(a)).toEqual(expected);
    expect(cj.points.has(b)).toBe(false);
    expect(cj.pushes.every((p) => p.op === 'readings' && !('id' in (p as Rec)))).toBe(true);

    expect(await json.request('unsubscribe', { events: [a] })).toEqual({ unsubscribed: [a] });
    await ingest(a, [6]);
    await new Promise((r) => setTimeout(r, 200));
    expect(cj.points.get(a)).toHaveLength(5);
    await json.close();
    await msgpack.close();
  });

  it('refuses unknown events (422), and events outside a device mapping (403)', async () => {
    await expect(admin.request('subscribe', { events: ['00000000-0000-4000-8000-000000000000'] })).rejects.toMatchObject({
      code: 'invalid',
      details: [{ path: '/events/0' }],
    });
    await expect(admin.request('subscribe', { events: [] })).rejects.toMatchObject({ code: 'invalid' });
    const inst = await admin.request<Rec>('plugin_instances.create', { plugin_id: 'x', instance_name: 'live-dev' });
    await admin.request('channel_mappings.create', { plugin_instance_public_id: inst.public_id, channel_id: 'c', event_public_id: a });
    const token = await admin.request<Rec>('api_tokens.create', { name: 'd', plugin_instance_public_id: inst.public_id });
    const device = await h.connect(token.token);
    expect(await device.request('subscribe', { events: [a] })).toEqual({ subscribed: [a] });
    await expect(device.request('subscribe', { events: [b] })).rejects.toMatchObject({ code: 'forbidden' });
    await device.close();
  });
});

describe('resume with since', () => {
  it('replays stored points after since, then continues live: no gap, nothing twice, also for points ingested during the replay', async () => {
    const event = (await admin.request<Rec>('events.create', { name: 'resume' })).public_id;
    const t0 = Date.now() - 60_000;
    // 20 000 stored points before the dashboard reconnects.
    for (let k = 0; k < 4; k++) {
      await admin.request('ingest', { points: Array.from({ length: 5000 }, (_, i) => ({ event, value: k * 5000 + i, ts: t0 + k * 5000 + i })) });
    }
    const since = t0 + 999; // the dashboard saw the first 1000 points
    const client = await h.connect(h.adminToken);
    const c = collect(client);
    // Points keep coming while the replay runs.
    const writer = (async () => {
      for (let k = 0; k < 20; k++) await admin.request('ingest', { points: [{ event, value: 20_000 + k, ts: t0 + 20_000 + k }] });
    })();
    await client.request('subscribe', { events: [event], since });
    await writer;
    await expect.poll(() => c.points.get(event)?.length, { timeout: 10_000 }).toBe(20_020 - 1000);
    const values = (c.points.get(event) ?? []).map(([, v]) => v);
    expect(values).toEqual(Array.from({ length: 19_020 }, (_, i) => 1000 + i));
    await client.close();
  });
});

describe('slow subscribers', () => {
  it('a stalled socket is conflated: the hub stays bounded, ingest and other subscribers go on', async () => {
    const hub = await startTestHub({ HUB_SUBSCRIBER_BUFFER_BYTES: '65536' });
    try {
      const c = await hub.connect(hub.adminToken);
      const event = (await c.request<Rec>('events.create', { name: 'flood' })).public_id;
      // A raw socket, subscribed, that then never reads. (It was once cut with 1006 before its
      // subscribe was answered: a uWS cork defect around the asynchronous upgrade, see
      // socket-cut.test.ts.)
      const stalled = await rawSocket(hub.wsUrl, hub.adminToken);
      const closed = new Promise<Rec>((resolve) => stalled.once('close', (code) => resolve({ closed: code })));
      const subscribed = nextMessage(stalled).then((m) => JSON.parse(m.data.toString()) as Rec);
      stalled.send(JSON.stringify({ id: 1, op: 'subscribe', data: { events: [event] } }));
      expect(await Promise.race([subscribed, closed])).toMatchObject({ id: 1, ok: true });
      stalled.pause();
      const healthy = await hub.connect(hub.adminToken);
      const seen = collect(healthy);
      await healthy.request('subscribe', { events: [event] });
      const rssBefore = process.memoryUsage().rss;
      let sent = 0;
      // 500 000 points (~17 MB as pushes): more than loopback's kernel buffers can hide.
      for (let k = 0; k < 100; k++) {
        const ack = await c.request<Rec>('ingest', { points: Array.from({ length: 5000 }, (_, i) => ({ event, value: i, ts: Date.now() + i })) }, 20_000);
        expect(ack.accepted).toBe(5000);
        sent += 5000;
      }
      expect(sent).toBe(500_000);
      await expect.poll(() => seen.points.get(event)?.length ?? 0, { timeout: 30_000 }).toBe(500_000);
      // The stalled socket's backlog is bounded by HUB_SUBSCRIBER_BUFFER_BYTES plus one push,
      // not 500 000 points.
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
      const metrics = await (await fetch(`${hub.baseUrl}/metrics`)).text();
      expect(metrics).toMatch(/hub_live_conflated_points [1-9]/);
      // When it reads again it gets the latest point, marked conflated.
      const conflated = new Promise<Rec>((resolve) => {
        stalled.on('message', (data) => {
          const msg = JSON.parse(data.toString()) as Rec;
          if (msg.data?.conflated === true) resolve(msg);
        });
      });
      stalled.resume();
      expect((await conflated).data).toMatchObject({ event, conflated: true, points: [[expect.any(Number), 4999]] });
      stalled.terminate();
      await healthy.close();
      await c.close();
    } finally {
      await hub.stop();
    }
  }, 60_000);

  it('max_rate_hz conflates on purpose', async () => {
    const client = await h.connect(h.adminToken);
    const c = collect(client);
    await client.request('subscribe', { events: [b], max_rate_hz: 2 });
    for (let k = 0; k < 10; k++) {
      await ingest(b, [k]);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 700));
    const pushes = c.pushes.filter((p) => (p.data as Rec).event === b);
    expect(pushes.length).toBeLessThanOrEqual(3);
    expect(pushes.some((p) => (p.data as Rec).conflated === true)).toBe(true);
    expect((c.points.get(b) ?? []).at(-1)?.[1]).toBe(9);
    await client.close();
  });
});

describe('history', () => {
  let event: string;
  const T = 1_700_000_000_000; // aligned to 10 s buckets
  beforeAll(async () => {
    event = (await admin.request<Rec>('events.create', { name: 'history' })).public_id;
    // 0..99 at 1 s steps: values = i
    await admin.request('ingest', { points: Array.from({ length: 100 }, (_, i) => ({ event, value: i, ts: T + i * 1000 })) });
  });

  it('queries raw points ascending, from inclusive, to exclusive, limited', async () => {
    const r = await admin.request<Rec>('datapoints.query', { event_public_id: event, from: T + 10_000, to: T + 15_000 });
    expect(r.points).toEqual([10, 11, 12, 13, 14].map((i) => [T + i * 1000, i]));
    const limited = await admin.request<Rec>('datapoints.query', { event_public_id: event, limit: 3 });
    expect(limited.points.map((p: number[]) => p[1])).toEqual([0, 1, 2]);
  });

  it('buckets on the Unix epoch with min, max, avg and count, non-empty only', async () => {
    const r = await admin.request<Rec>('datapoints.query', { event_public_id: event, bucket_ms: 10_000, from: T, to: T + 30_000 });
    expect(r.buckets).toEqual([
      [T, 0, 9, 4.5, 10],
      [T + 10_000, 10, 19, 14.5, 10],
      [T + 20_000, 20, 29, 24.5, 10],
    ]);
    const sparse = await admin.request<Rec>('datapoints.query', { event_public_id: event, bucket_ms: 7000, from: T + 95_000 });
    // 95..99 s: buckets at multiples of 7 s since the epoch.
    const base = Math.floor((T + 95_000) / 7000) * 7000;
    expect(sparse.buckets.map((bk: number[]) => bk[0])).toEqual([base, base + 7000].filter((x) => x <= T + 99_000));
    expect(sparse.buckets.reduce((n: number, bk: number[]) => n + (bk[4] as number), 0)).toBe(5);
  });

  it('refuses an unknown event (404) and bad ranges (422)', async () => {
    await expect(admin.request('datapoints.query', { event_public_id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({ code: 'not_found' });
    await expect(admin.request('datapoints.query', { event_public_id: event, limit: 100_001 })).rejects.toMatchObject({ code: 'invalid' });
    await expect(admin.request('datapoints.query', { event_public_id: event, bucket_ms: 0 })).rejects.toMatchObject({ code: 'invalid' });
  });

  it('datapoints.latest answers from memory, and is right after a restart', async () => {
    const r = await admin.request<Rec>('datapoints.latest', { events: [event] });
    expect(r.items).toEqual([{ event_public_id: event, ts: T + 99_000, value: 99 }]);
    const all = await admin.request<Rec>('datapoints.latest', {});
    expect(all.items.map((i: Rec) => i.event_public_id)).toContain(event);
    // A second hub on the same database (a restart) reads it back from PostgreSQL.
    const { startHub } = await import('../../src/main.js');
    const { loadConfig } = await import('../../src/config.js');
    const { createLogger } = await import('../../src/log.js');
    const second = await startHub(
      loadConfig({ DATABASE_URL: h.database.url, HUB_PORT: '0', HUB_DATA_DIR: h.dataDir, HUB_JWT_SECRET: 'a-test-secret-that-is-long-enough-0123456789', NATS_URL: 'nats://127.0.0.1:4222' }),
      createLogger('silent'),
    );
    try {
      const { HubClient } = await import('../../src/client/hub-client.js');
      const WebSocket = (await import('ws')).default;
      const client = await HubClient.connect({
        url: `ws://127.0.0.1:${second.port}/ws`,
        token: h.adminToken,
        createSocket: (url, t) => new WebSocket(url, { headers: { authorization: `Bearer ${t}` } }) as never,
      });
      expect((await client.request<Rec>('datapoints.latest', { events: [event] })).items).toEqual([{ event_public_id: event, ts: T + 99_000, value: 99 }]);
      await client.close();
    } finally {
      await second.stop();
    }
  });
});
