/**
 * Fair ingest: one sender may hold at most its share of the queue (HUB_DEVICE_QUEUE_SHARE) and a
 * bounded number of messages in flight (HUB_INGEST_IN_FLIGHT_PER_TOKEN); beyond, it alone is
 * refused while the others keep being accepted; and what it held comes back on every path.
 * @see PROTOCOL.md §6
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { streamPoints } from '../support/device-stream.js';
import { nextMessage, rawSocket, startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
let h: TestHub;
let admin: HubClient;
let event: string;
/** Each device: its token and a socket. */
let flood: { token: string; client: HubClient };
let calm: { token: string; client: HubClient };

// 400 points of queue, 100 per sender (a quarter), 6 messages in flight per token.
const ENV = { HUB_QUEUE_CAPACITY: '400', HUB_MAX_BATCH_POINTS: '100', HUB_DEVICE_QUEUE_SHARE: '0.25', HUB_INGEST_IN_FLIGHT_PER_TOKEN: '6' };

async function device(name: string): Promise<{ token: string; client: HubClient }> {
  const instance = await admin.request<Rec>('plugin_instances.create', { plugin_id: 'fair', instance_name: name });
  await admin.request('channel_mappings.create', { plugin_instance_public_id: instance.public_id, channel_id: 'ch', event_public_id: event });
  const { token } = await admin.request<Rec>('api_tokens.create', { name, plugin_instance_public_id: instance.public_id });
  return { token, client: await h.connect(token) };
}

const points = (n: number, base = 0) => Array.from({ length: n }, (_, i) => ({ event, value: base + i }));

/**
 * Holds every COPY (the writer waits) until the returned function is called; `inside` runs in
 * the locking transaction first (a delete that must not wait for the lock).
 */
async function lockDatapoints(): Promise<(inside?: (locker: pg.Client) => Promise<unknown>) => Promise<void>> {
  const locker = new pg.Client({ connectionString: h.database.url });
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('LOCK TABLE datapoints IN SHARE MODE');
  return async (inside) => {
    try {
      await inside?.(locker);
    } finally {
      await locker.query('COMMIT');
      await locker.end();
    }
  };
}

const settle = <T>(p: Promise<T>): Promise<T | Rec> => p.catch((e: Rec) => e);

/** How many 100-point messages `client` gets queued while the writer is held: its share in messages. */
async function shareInMessages(client: HubClient): Promise<{ accepted: number; refusal: Rec }> {
  const unlock = await lockDatapoints();
  const requests = Array.from({ length: 3 }, (_, i) => settle(client.request<Rec>('ingest', { points: points(100, 1000 * i) }, 20_000)));
  // Refusals come at once; the accepted wait for the lock.
  await new Promise((r) => setTimeout(r, 300));
  await unlock();
  const outcomes = (await Promise.all(requests)) as Rec[];
  return { accepted: outcomes.filter((o) => o.accepted === 100).length, refusal: outcomes.find((o) => o.code !== undefined) as Rec };
}

beforeAll(async () => {
  h = await startTestHub(ENV);
  admin = await h.connect(h.adminToken);
  event = (await admin.request<Rec>('events.create', { name: 'fair' })).public_id;
  flood = await device('flooding-device');
  calm = await device('calm-device');
});
afterAll(async () => {
  await flood?.client.close();
  await calm?.client.close();
  await admin?.close();
  await h?.stop();
});

describe('a sender’s share of the queue', () => {
  it('refuses, without decoding it, an ingest frame its sender sends again inside its retry_after_ms', async () => {
    const impatient = await device('impatient');
    const raw = await rawSocket(h.wsUrl, impatient.token);
    const unlock = await lockDatapoints();
    // Starts as an ingest, then is not JSON at all: decoded, it is a 400 with no id.
    const broken = '{"id":7,"op":"ingest","data":{"points":[{"event": oops';
    try {
      const first = impatient.client.request<Rec>('ingest', { points: points(100) }, 20_000);
      const refused = (await settle(impatient.client.request<Rec>('ingest', { points: points(1) }, 20_000))) as Rec;
      expect(refused).toMatchObject({ status: 503, code: 'busy' });
      // Inside the wait, its share still full: busy, with the id read from the frame's start.
      const early = nextMessage(raw);
      raw.send(broken);
      const reply = JSON.parse((await early).data.toString()) as Rec;
      expect(reply).toMatchObject({ id: 7, ok: false, error: { status: 503, code: 'busy' } });
      expect(reply.error.retry_after_ms).toBeGreaterThan(0);
      // Once the wait is over the frame is decoded again (and refused for what it is).
      await new Promise((r) => setTimeout(r, refused.retryAfterMs + 20));
      const later = nextMessage(raw);
      raw.send(broken);
      expect(JSON.parse((await later).data.toString())).toMatchObject({ id: null, ok: false, error: { code: 'bad_request' } });
      await unlock();
      expect(await first).toMatchObject({ accepted: 100 });
      // Its share free again: decoded and accepted.
      expect(await impatient.client.request<Rec>('ingest', { points: points(1) })).toMatchObject({ accepted: 1 });
    } finally {
      await unlock().catch(() => undefined);
      raw.terminate();
      await impatient.client.close();
    }
  });

  it('refuses a sender beyond its share with 503 busy and retry_after_ms, while another sender is accepted', async () => {
    const unlock = await lockDatapoints();
    const first = flood.client.request<Rec>('ingest', { points: points(100) }, 20_000);
    const second = settle(flood.client.request<Rec>('ingest', { points: points(1) }, 20_000));
    const other = calm.client.request<Rec>('ingest', { points: points(100) }, 20_000);
    try {
      const refused = (await second) as Rec;
      expect(refused).toMatchObject({ status: 503, code: 'busy' });
      expect(refused.message).toMatch(/share/);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      // The queue is far from full: a quarter for each of the two senders.
      const health = (await (await fetch(`${h.baseUrl}/healthz`)).json()) as Rec;
      expect(health.queue).toEqual({ depth: 200, capacity: 400 });
    } finally {
      await unlock();
    }
    expect(await first).toEqual({ accepted: 100, seq: null });
    expect(await other).toEqual({ accepted: 100, seq: null });
  });

  it('keeps acknowledging a second device’s small messages, each within a bound, while one device floods', async () => {
    const flooding = streamPoints(flood.client, { event, base: 1_000_000, pointsPerMessage: 100, window: 6, durationMs: 3000 });
    const latencies: number[] = [];
    const refusals: string[] = [];
    const deadline = Date.now() + 2500;
    await new Promise((r) => setTimeout(r, 200));
    while (Date.now() < deadline) {
      const sent = performance.now();
      try {
        await calm.client.request('ingest', { points: points(10, 5_000_000) }, 20_000);
        latencies.push(performance.now() - sent);
      } catch (err) {
        refusals.push((err as Rec).code);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const result = await flooding;
    // The flood was refused (its share), the calm device never.
    expect(result.busy).toBeGreaterThan(0);
    expect(result.errors).toEqual([]);
    expect(refusals).toEqual([]);
    expect(latencies.length).toBeGreaterThan(10);
    // A bound, not a timing: on a slow machine a commit may take long, but never a flood's backlog.
    expect(Math.max(...latencies)).toBeLessThan(2000);
  });

  it('regression: after a flood, the device holds nothing again (its whole share is free)', async () => {
    // A flood, then every way out of the queue: commit, duplicate, and a refusal by the database.
    await streamPoints(flood.client, { event, base: 2_000_000, pointsPerMessage: 100, window: 6, durationMs: 1000, withSeq: true });
    expect(await flood.client.request('ingest', { seq: 1, points: points(100) })).toMatchObject({ duplicate: true });
    const doomed = (await admin.request<Rec>('events.create', { name: 'doomed-fair' })).public_id;
    await admin.request('channel_mappings.create', {
      plugin_instance_public_id: (await flood.client.request<Rec>('auth.me')).plugin_instance_public_id,
      channel_id: 'doomed',
      event_public_id: doomed,
    });
    const unlock = await lockDatapoints();
    const refusedAtWrite = settle(flood.client.request('ingest', { points: [{ event: doomed, value: 1 }] }, 20_000));
    await new Promise((r) => setTimeout(r, 300));
    // Validated and queued while the event existed; deleted before it is written.
    await unlock((locker) => locker.query('DELETE FROM events WHERE public_id = $1', [doomed]));
    expect(await refusedAtWrite).toMatchObject({ status: 422 });
    await expect.poll(async () => ((await (await fetch(`${h.baseUrl}/healthz`)).json()) as Rec).queue.depth).toBe(0);
    // Its whole share again: one 100-point message fits, the next does not.
    const { accepted, refusal } = await shareInMessages(flood.client);
    expect(accepted).toBe(1);
    expect(refusal).toMatchObject({ status: 503, code: 'busy' });
  });

  it('counts a login token’s ingest per user: two sockets of one user share one share', async () => {
    const second = await h.connect(await h.login('admin', 'admin-password-for-tests'));
    const unlock = await lockDatapoints();
    const first = admin.request<Rec>('ingest', { points: points(100) }, 20_000);
    try {
      await new Promise((r) => setTimeout(r, 100));
      await expect(second.request('ingest', { points: points(1) })).rejects.toMatchObject({ status: 503, code: 'busy' });
    } finally {
      await unlock();
      await second.close();
    }
    expect(await first).toMatchObject({ accepted: 100 });
  });
});

describe('messages in flight per token', () => {
  it('refuses more than HUB_INGEST_IN_FLIGHT_PER_TOKEN messages in flight with 429, across the token’s sockets, and frees them once committed', async () => {
    const other = await h.connect(calm.token);
    const unlock = await lockDatapoints();
    const inFlight = Array.from({ length: 6 }, (_, i) => calm.client.request<Rec>('ingest', { points: points(1, i) }, 20_000));
    try {
      await new Promise((r) => setTimeout(r, 100));
      const refused = (await settle(other.request('ingest', { points: points(1) }))) as Rec;
      expect(refused).toMatchObject({ status: 429, code: 'rate_limited' });
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      // Another token is not held back.
      expect(await settle(flood.client.request('ingest', { points: points(1) }, 500))).toMatchObject({ message: expect.stringMatching(/no reply|timed out|timeout/i) });
    } finally {
      await unlock();
    }
    for (const ack of await Promise.all(inFlight)) expect(ack).toMatchObject({ accepted: 1 });
    expect(await other.request('ingest', { points: points(1) })).toMatchObject({ accepted: 1 });
    await other.close();
  });
});
