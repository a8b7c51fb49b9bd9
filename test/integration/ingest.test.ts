/** Ingest over the socket: all or nothing, limits, seq, busy, order, experiments, devices. @see PROTOCOL.md §6 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { HubClient } from '../../src/client/hub-client.js';
import { streamPoints } from '../support/device-stream.js';
import { startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
let h: TestHub;
let admin: HubClient;
let temp: string;
let pressure: string;

beforeAll(async () => {
  // One sender (the admin) fills the whole queue here: its share is all of it (fairness: ingest-fairness.test.ts).
  h = await startTestHub({ HUB_MAX_BATCH_POINTS: '100', HUB_QUEUE_CAPACITY: '300', HUB_DEVICE_QUEUE_SHARE: '1' });
  admin = await h.connect(h.adminToken);
  temp = (await admin.request<Rec>('events.create', { name: 'temp' })).public_id;
  pressure = (await admin.request<Rec>('events.create', { name: 'pressure' })).public_id;
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

const count = async (event: string): Promise<number> =>
  Number((await h.database.pool.query('SELECT count(*) FROM datapoints WHERE event_public_id = $1', [event])).rows[0].count);

describe('ingest', () => {
  it('stores the points and acknowledges with accepted and seq', async () => {
    const before = await count(temp);
    const ts = Date.now() - 5000;
    expect(await admin.request('ingest', { seq: 1, points: [{ event: temp, value: 21.5, ts }, { event: temp, value: 22 }] })).toEqual({
      accepted: 2,
      seq: 1,
    });
    expect(await count(temp)).toBe(before + 2);
    const { rows } = await h.database.pool.query('SELECT value, "timestamp" FROM datapoints WHERE event_public_id = $1 ORDER BY "timestamp"', [temp]);
    expect(rows.at(-2)).toMatchObject({ value: 21.5, timestamp: new Date(ts) });
    expect(await admin.request('ingest', { points: [{ event: temp, value: 1 }] })).toEqual({ accepted: 1, seq: null });
  });

  it('is all or nothing: one bad point stores nothing and names every bad point', async () => {
    const before = await count(temp);
    const err = await admin
      .request('ingest', {
        points: [
          { event: temp, value: 1 },
          { event: temp, value: 'hot' },
          { event: '00000000-0000-4000-8000-000000000000', value: 1 },
          { event: temp, value: 1, ts: Date.now() + 48 * 3600 * 1000 },
          { value: 1 },
          { event: temp, channel: 'c', value: 1 },
          { event: temp, value: Number.NaN },
        ],
      })
      .catch((e: Rec) => e) as Rec;
    expect(err).toMatchObject({ status: 422, code: 'invalid' });
    expect(err.details.map((d: Rec) => d.path)).toEqual(['/points/1/value', '/points/2/event', '/points/3/ts', '/points/4', '/points/5', '/points/6/value']);
    expect(await count(temp)).toBe(before);
  });

  it.each([
    [{}, '/points'],
    [{ points: [] }, '/points'],
    [{ points: 'x' }, '/points'],
    [{ points: [{ event: 'x', value: 1 }], seq: -1 }, '/seq'],
    [{ points: [{ event: 'x', value: 1 }], seq: 1.5 }, '/seq'],
    [{ points: [{ event: 'x', value: 1 }], extra: 1 }, '/extra'],
  ])('refuses %j with 422 at %s', async (data, path) => {
    await expect(admin.request('ingest', data)).rejects.toMatchObject({ code: 'invalid', details: [{ path }] });
  });

  it('refuses more points than HUB_MAX_BATCH_POINTS with 413, storing nothing', async () => {
    const before = await count(temp);
    const points = Array.from({ length: 101 }, (_, i) => ({ event: temp, value: i }));
    await expect(admin.request('ingest', { points })).rejects.toMatchObject({ status: 413, code: 'too_large' });
    expect(await count(temp)).toBe(before);
  });

  it('acknowledges a seq not above the last committed one as a duplicate, storing it never', async () => {
    const before = await count(pressure);
    expect(await admin.request('ingest', { seq: 10, points: [{ event: pressure, value: 1 }] })).toEqual({ accepted: 1, seq: 10 });
    expect(await admin.request('ingest', { seq: 10, points: [{ event: pressure, value: 1 }] })).toEqual({ accepted: 0, seq: 10, duplicate: true });
    expect(await admin.request('ingest', { seq: 9, points: [{ event: pressure, value: 1 }] })).toEqual({ accepted: 0, seq: 9, duplicate: true });
    expect(await admin.request('ingest', { seq: 11, points: [{ event: pressure, value: 1 }] })).toEqual({ accepted: 1, seq: 11 });
    expect(await count(pressure)).toBe(before + 2);
  });

  it('keeps seq per login user across sockets, and per API token', async () => {
    const other = await h.connect(h.adminToken, 'msgpack');
    expect(await other.request('ingest', { seq: 11, points: [{ event: pressure, value: 1 }] })).toMatchObject({ duplicate: true });
    const token = await admin.request<Rec>('api_tokens.create', { name: 'script' });
    const script = await h.connect(token.token);
    expect(await script.request('ingest', { seq: 11, points: [{ event: pressure, value: 1 }] })).toEqual({ accepted: 1, seq: 11 });
    await other.close();
    await script.close();
  });

  it('answers in the order the messages were sent', async () => {
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => admin.request<Rec>('ingest', { seq: 1000 + i, points: [{ event: temp, value: i }] })));
    expect(replies.map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => 1000 + i));
    // The order on the wire, not just the matching by id:
    const order: number[] = [];
    const raw = await h.connect(h.adminToken);
    const done = new Promise<void>((resolve) => {
      raw.onError(() => undefined);
      let n = 0;
      raw.onPush(() => undefined);
      const original = raw.request.bind(raw);
      void Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          original('ingest', { seq: 5000 + i, points: [{ event: temp, value: i }] }).then((r: any) => {
            order.push(r.seq);
            if (++n === 20) resolve();
          }),
        ),
      );
    });
    await done;
    expect(order).toEqual([...order].sort((a, b) => a - b));
    await raw.close();
  });

  it('records the running experiment on every point, and none when none runs', async () => {
    const exp = await admin.request<Rec>('experiments.create', { name: 'tagging' });
    await admin.request('ingest', { points: [{ event: pressure, value: 100 }] });
    await admin.request('experiments.stop', { public_id: exp.public_id });
    await admin.request('ingest', { points: [{ event: pressure, value: 200 }] });
    const { rows } = await h.database.pool.query('SELECT value, experiment_public_id FROM datapoints WHERE value IN (100, 200) ORDER BY value');
    expect(rows).toEqual([
      { value: 100, experiment_public_id: exp.public_id },
      { value: 200, experiment_public_id: null },
    ]);
  });

  it('is 403 for a viewer', async () => {
    const viewer = await h.connect((await h.userWithRole('viewer')).token);
    await expect(viewer.request('ingest', { points: [{ event: temp, value: 1 }] })).rejects.toMatchObject({ status: 403, code: 'forbidden' });
    await viewer.close();
  });

  it('accepts an event created a moment ago (the catalog catches up)', async () => {
    const fresh = await h.database.pool.query(`INSERT INTO events (name) VALUES ('made-by-sql') RETURNING public_id`);
    expect(await admin.request('ingest', { points: [{ event: fresh.rows[0].public_id, value: 1 }] })).toMatchObject({ accepted: 1 });
  });
});

describe('devices', () => {
  let device: HubClient;
  let instance: string;
  let token: Rec;
  beforeAll(async () => {
    instance = (await admin.request<Rec>('plugin_instances.create', { plugin_id: 'sim', instance_name: 'ingest-dev' })).public_id;
    await admin.request('channel_mappings.create', { plugin_instance_public_id: instance, channel_id: 'ch-temp', event_public_id: temp });
    await admin.request('channel_mappings.create', { plugin_instance_public_id: instance, channel_id: 'ch-none' });
    token = await admin.request<Rec>('api_tokens.create', { name: 'dev', plugin_instance_public_id: instance });
    device = await h.connect(token.token);
  });
  afterAll(async () => {
    await device?.close();
  });

  it('ingest by channel and by mapped event', async () => {
    const before = await count(temp);
    expect(await device.request('ingest', { seq: 1, points: [{ channel: 'ch-temp', value: 5 }, { event: temp, value: 6 }] })).toEqual({ accepted: 2, seq: 1 });
    expect(await count(temp)).toBe(before + 2);
  });

  it('may not write events outside its mappings, nor unmapped or unknown channels (422)', async () => {
    const err = await device
      .request('ingest', { points: [{ event: pressure, value: 1 }, { channel: 'ch-none', value: 1 }, { channel: 'nope', value: 1 }] })
      .catch((e: Rec) => e) as Rec;
    expect(err).toMatchObject({ status: 422, code: 'invalid' });
    expect(err.details.map((d: Rec) => d.path)).toEqual(['/points/0/event', '/points/1/channel', '/points/2/channel']);
  });

  it('loses a permission as soon as its mapping is deleted', async () => {
    const extra = await admin.request<Rec>('channel_mappings.create', { plugin_instance_public_id: instance, channel_id: 'ch-p', event_public_id: pressure });
    expect(await device.request('ingest', { points: [{ channel: 'ch-p', value: 1 }] })).toMatchObject({ accepted: 1 });
    await admin.request('channel_mappings.delete', { public_id: extra.public_id });
    await expect(device.request('ingest', { points: [{ channel: 'ch-p', value: 1 }] })).rejects.toMatchObject({ code: 'invalid' });
    await expect(device.request('ingest', { points: [{ event: pressure, value: 1 }] })).rejects.toMatchObject({ code: 'invalid' });
  });
});

describe('many devices at once', () => {
  it('regression: pipelined batches sharing seq owners neither deadlock nor lose or repeat a point', async () => {
    const tokens: string[] = [];
    for (let i = 0; i < 6; i++) tokens.push((await admin.request<Rec>('api_tokens.create', { name: `stream-${i}` })).token);
    const clients = await Promise.all(tokens.map((t) => h.connect(t)));
    const before = await count(temp);
    const results = await Promise.all(
      clients.map((c, i) => streamPoints(c, { event: temp, base: 1e9 + i * 1e7, pointsPerMessage: 50, window: 4, durationMs: 2500, withSeq: true })),
    );
    const acked = results.reduce((n, r) => n + r.acked.length, 0);
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(acked).toBeGreaterThan(1000);
    expect(await count(temp)).toBe(before + acked);
    for (const c of clients) await c.close();
  }, 30_000);

  it('regression: a small batch overtaking a large one of the same seq owner does not deadlock', async () => {
    // Batch k (10 000 points) is still in COPY when batch k+1 (1 point, same token) has finished
    // its own; k+1 must not lock the owner's seq row before k has committed.
    const big = await startTestHub({ HUB_MAX_BATCH_POINTS: '10000' });
    try {
      const c = await big.connect(big.adminToken);
      const ev = (await c.request<Rec>('events.create', { name: 'overtake' })).public_id;
      const token = (await c.request<Rec>('api_tokens.create', { name: 'overtake' })).token as string;
      const device = await big.connect(token);
      for (let round = 0; round < 3; round++) {
        const points = Array.from({ length: 10_000 }, (_, i) => ({ event: ev, value: i }));
        const large = device.request<Rec>('ingest', { seq: round * 2 + 1, points }, 15_000);
        await new Promise((r) => setTimeout(r, 15));
        const small = device.request<Rec>('ingest', { seq: round * 2 + 2, points: [{ event: ev, value: -1 }] }, 15_000);
        expect(await large).toMatchObject({ accepted: 10_000 });
        expect(await small).toMatchObject({ accepted: 1 });
      }
      await device.close();
      await c.close();
    } finally {
      await big.stop();
    }
  }, 60_000);
});

describe('under pressure', () => {
  it('answers busy with retry_after_ms when the queue is full, storing nothing of those; then recovers', async () => {
    const locker = new pg.Client({ connectionString: h.database.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE datapoints IN SHARE MODE'); // the writer's COPY waits
    const before = await count(pressure);
    const points = Array.from({ length: 100 }, (_, i) => ({ event: pressure, value: i }));
    const requests = Array.from({ length: 6 }, () => admin.request<Rec>('ingest', { points }, 20_000));
    try {
      // Capacity is 300 points: three messages fit, the other three are refused at once.
      const refusals = await Promise.all(requests.slice(3).map((r) => r.catch((e: Rec) => e)));
      for (const reason of refusals) {
        expect(reason).toMatchObject({ status: 503, code: 'busy' });
        expect(reason.retryAfterMs).toBeGreaterThan(0);
      }
      const health = (await (await fetch(`${h.baseUrl}/healthz`)).json()) as Rec;
      expect(health.queue).toEqual({ depth: 300, capacity: 300 });
    } finally {
      await locker.query('COMMIT');
      await locker.end();
    }
    for (const r of await Promise.all(requests.slice(0, 3))) expect(r).toMatchObject({ accepted: 100 });
    expect(await count(pressure)).toBe(before + 300);
    expect(await admin.request('ingest', { points })).toMatchObject({ accepted: 100 });
  });

  it('refuses, alone, a queued message whose event was deleted before it was written', async () => {
    const doomed = (await admin.request<Rec>('events.create', { name: 'doomed' })).public_id;
    const locker = new pg.Client({ connectionString: h.database.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE datapoints IN SHARE MODE'); // every COPY waits
    const first = admin.request<Rec>('ingest', { seq: 90_000, points: [{ event: temp, value: 1 }] });
    const second = admin.request<Rec>('ingest', { seq: 90_001, points: [{ event: doomed, value: 2 }] });
    const third = admin.request<Rec>('ingest', { seq: 90_002, points: [{ event: temp, value: 3 }] });
    await new Promise((r) => setTimeout(r, 300));
    try {
      // Validated and queued while the event existed; deleted before any of it is written.
      await locker.query('DELETE FROM events WHERE public_id = $1', [doomed]);
    } finally {
      await locker.query('COMMIT');
      await locker.end();
    }
    await expect(first).resolves.toMatchObject({ accepted: 1 });
    await expect(second).rejects.toMatchObject({ code: 'invalid' });
    await expect(third).resolves.toMatchObject({ accepted: 1 });
    // The refused message's seq was not taken: it can be sent again (here to a live event).
    expect(await admin.request('ingest', { seq: 90_003, points: [{ event: temp, value: 4 }] })).toMatchObject({ accepted: 1 });
  });

  it('regression: after a batch refused for its content, the batches after it are not rolled back and written again', async () => {
    const doomed = (await admin.request<Rec>('events.create', { name: 'doomed-once' })).public_id;
    const locker = new pg.Client({ connectionString: h.database.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE datapoints IN SHARE MODE');
    const refused = admin.request<Rec>('ingest', { points: [{ event: doomed, value: 1 }] }).catch((e: Rec) => e);
    await new Promise((r) => setTimeout(r, 300));
    try {
      await locker.query('DELETE FROM events WHERE public_id = $1', [doomed]);
    } finally {
      await locker.query('COMMIT');
      await locker.end();
    }
    await expect(refused).resolves.toMatchObject({ code: 'invalid' });
    const rolledBack = async () => {
      const text = await (await fetch(`${h.baseUrl}/metrics`)).text();
      return Number(/^hub_copy_failures_total\{reason="predecessor"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const before = await rolledBack();
    for (let i = 0; i < 20; i++) expect(await admin.request('ingest', { points: [{ event: temp, value: i }] })).toMatchObject({ accepted: 1 });
    // Before the fix each of them failed once behind the refused batch (rolled back), then was written alone.
    expect((await rolledBack()) - before).toBe(0);
  }, 40_000);

  it('regression: a batch held back by a failed one, failing again on its own when rewritten, does not stop the writer', async () => {
    const doomed = (await admin.request<Rec>('events.create', { name: 'doomed-again' })).public_id;
    const { token } = await admin.request<Rec>('api_tokens.create', { name: 'vanishing' });
    const script = await h.connect(token);
    const locker = new pg.Client({ connectionString: h.database.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE datapoints IN SHARE MODE');
    // Batch 1 will fail for its content; batch 2 only because batch 1 did — until it is written
    // again, when its seq owner (the token, deleted meanwhile) fails it on its own.
    const first = admin.request<Rec>('ingest', { points: [{ event: doomed, value: 1 }] }).catch((e: Rec) => e);
    await new Promise((r) => setTimeout(r, 150));
    void script.request<Rec>('ingest', { seq: 5, points: [{ event: temp, value: 424_242 }] }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    try {
      await locker.query('DELETE FROM events WHERE public_id = $1', [doomed]);
      await locker.query(`DELETE FROM api_tokens WHERE name = 'vanishing'`);
    } finally {
      await locker.query('COMMIT');
      await locker.end();
    }
    await expect(first).resolves.toMatchObject({ code: 'invalid' });
    // The writer still writes: the held-back point is stored (without its seq mark), and more come.
    await expect.poll(async () => Number((await h.database.pool.query('SELECT count(*) FROM datapoints WHERE value = 424242')).rows[0].count), { timeout: 5000 }).toBe(1);
    expect(await admin.request('ingest', { points: [{ event: temp, value: 5 }] }, 5000)).toMatchObject({ accepted: 1 });
  });
});
