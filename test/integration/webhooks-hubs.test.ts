/**
 * Webhook delivery across hub processes' lifetimes and across several hubs on one database
 * (PROTOCOL.md §12): a pending delivery survives a restart and is delivered exactly once; a
 * stopping hub lets its attempt in flight finish (bounded) and claims nothing more; two hubs
 * never make the same attempt twice.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { enqueueDeliveries } from '../../src/automation/outbox.js';
import { WebhookSender } from '../../src/automation/sender.js';
import { loadConfig } from '../../src/config.js';
import { OutboxStore } from '../../src/db/outbox-store.js';
import { createLogger } from '../../src/log.js';
import { startHub, type Hub } from '../../src/main.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ADMIN_PASSWORD } from '../support/hub.js';
import { eventually, startReceiver, type Receiver } from '../support/webhook-receiver.js';

interface RunningHub {
  readonly hub: Hub;
  readonly baseUrl: string;
  stop(): Promise<void>;
}

const running = new Set<RunningHub>();
const receivers: Receiver[] = [];

/** An in-process hub on an existing database (as a restarted or a second hub process would be). */
async function hubOn(database: TestDatabase): Promise<RunningHub> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'hub-webhooks-'));
  const config = loadConfig({
    DATABASE_URL: database.url,
    HUB_PORT: '0',
    HUB_DATA_DIR: dataDir,
    HUB_ADMIN_PASSWORD: ADMIN_PASSWORD,
    HUB_JWT_SECRET: 'a-test-secret-that-is-long-enough-0123456789',
    HUB_WEBHOOK_ALLOW_PRIVATE: '1',
    // Several hubs on one database need NATS (PROTOCOL.md §15): the machine's.
    NATS_URL: 'nats://127.0.0.1:4222',
  });
  const hub = await startHub(config, createLogger('silent'));
  let stopped: Promise<void> | undefined;
  const handle: RunningHub = {
    hub,
    baseUrl: `http://127.0.0.1:${hub.port}`,
    stop: () => {
      running.delete(handle);
      stopped ??= hub.stop().then(() => rm(dataDir, { recursive: true, force: true }));
      return stopped;
    },
  };
  running.add(handle);
  return handle;
}

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

async function addWebhook(db: TestDatabase, url: string, events: string[] = ['sensor.reading']): Promise<string> {
  const { rows } = await db.pool.query<{ public_id: string }>('INSERT INTO webhooks (url, events) VALUES ($1, $2) RETURNING public_id', [url, events]);
  return rows[0]!.public_id;
}

function enqueue(db: TestDatabase, fields: Record<string, unknown>): Promise<number> {
  return enqueueDeliveries((text, params) => db.pool.query(text, params), 'sensor.reading', fields);
}

interface DeliveryRow {
  public_id: string;
  status: string;
  attempts: number;
}

async function deliveries(db: TestDatabase, webhook?: string): Promise<DeliveryRow[]> {
  const { rows } = await db.pool.query<DeliveryRow>(
    'SELECT public_id, status::text, attempts FROM webhook_deliveries WHERE $1::uuid IS NULL OR webhook_public_id = $1 ORDER BY id',
    [webhook ?? null],
  );
  return rows;
}

/** POSTs per X-Webhook-Delivery. */
function postsPerDelivery(...rs: Receiver[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of rs) for (const q of r.requests) counts.set(String(q.headers['x-webhook-delivery']), (counts.get(String(q.headers['x-webhook-delivery'])) ?? 0) + 1);
  return counts;
}

afterEach(async () => {
  for (const h of [...running]) await h.stop();
  for (const r of receivers.splice(0)) await r.close();
});

describe('across a restart', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('a pending delivery is sent by the next hub and delivered exactly once', async () => {
    const r = await receiver();
    r.answer((_req, nth) => (nth === 1 ? 500 : 200));
    const webhook = await addWebhook(db, r.url);

    const first = await hubOn(db);
    await enqueue(db, { event_public_id: 'ev-1', sensor: 'boiler', value: 91, ts: 1 });
    await r.waitFor(1, 5_000);
    // The failed attempt is recorded; the retry is due 2 s later. Stop before it.
    await eventually(async () => ((await deliveries(db, webhook))[0]?.attempts === 1 ? true : undefined), 3_000, 'the failed attempt');
    await first.stop();
    expect(r.requests).toHaveLength(1);
    // One more queued while no hub runs.
    await enqueue(db, { event_public_id: 'ev-1', sensor: 'boiler', value: 92, ts: 2 });
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(r.requests).toHaveLength(1);

    await hubOn(db);
    await r.waitFor(3, 10_000);
    const rows = await eventually(async () => {
      const all = await deliveries(db, webhook);
      return all.every((d) => d.status === 'delivered') ? all : undefined;
    }, 10_000, 'both delivered');
    expect(rows.map((d) => d.attempts)).toEqual([2, 1]);
    // Nothing is sent again after success.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(Object.fromEntries(postsPerDelivery(r))).toEqual({ [rows[0]!.public_id]: 2, [rows[1]!.public_id]: 1 });
  });

  it('a stopping hub lets its attempt in flight finish and claims nothing more', async () => {
    const r = await receiver();
    r.answer(() => new Promise((resolve) => setTimeout(() => resolve(200), 1_500)));
    const webhook = await addWebhook(db, r.url, ['experiment.started']);
    const hub = await hubOn(db);
    await enqueueDeliveries((text, params) => db.pool.query(text, params), 'experiment.started', { experiment_public_id: 'x', name: 'a' });
    await r.waitFor(1, 5_000);

    const stopping = hub.stop();
    // Queued after the stop began: left pending for the next hub.
    await enqueueDeliveries((text, params) => db.pool.query(text, params), 'experiment.started', { experiment_public_id: 'y', name: 'b' });
    await stopping;
    const rows = await deliveries(db, webhook);
    expect(rows.map((d) => [d.status, d.attempts])).toEqual([
      ['delivered', 1],
      ['pending', 0],
    ]);
    expect(r.requests).toHaveLength(1);
  });

  it('a stopping hub waits for a receiver that never answers for a bounded time and leaves the delivery pending', async () => {
    const r = await receiver();
    r.answer(() => 'hang');
    const webhook = await addWebhook(db, r.url, ['experiment.stopped']);
    const hub = await hubOn(db);
    await enqueueDeliveries((text, params) => db.pool.query(text, params), 'experiment.stopped', { experiment_public_id: 'x', name: 'a' });
    await r.waitFor(1, 5_000);
    const started = Date.now();
    await hub.stop();
    expect(Date.now() - started).toBeLessThan(15_000);
    const [row] = await deliveries(db, webhook);
    // Its 10 s limit or the shutdown grace (11 s) ended the attempt, whichever came first.
    expect(row!.status).toBe('pending');
    expect(row!.attempts).toBeLessThanOrEqual(1);
    expect(r.requests).toHaveLength(1);
  }, 30_000);
});

describe('a sender stopped with a short grace', () => {
  it('aborts the attempt still running and hands its delivery back, due now and uncounted', async () => {
    const db = await createTestDatabase();
    try {
      const r = await receiver();
      r.answer(() => 'hang');
      const webhook = await addWebhook(db, r.url);
      await enqueue(db, { event_public_id: 'ev', sensor: 's', value: 1, ts: 1 });
      const sender = new WebhookSender({ store: new OutboxStore(db.pool), log: createLogger('silent'), maxAttempts: 3, allowPrivate: true });
      sender.start();
      await r.waitFor(1, 5_000);
      const started = Date.now();
      await sender.stop(300);
      expect(Date.now() - started).toBeLessThan(3_000);
      const { rows } = await db.pool.query(
        'SELECT status::text, attempts, extract(epoch FROM next_attempt_at - now()) AS due_in_s FROM webhook_deliveries WHERE webhook_public_id = $1',
        [webhook],
      );
      expect(rows[0]).toMatchObject({ status: 'pending', attempts: 0 });
      // Not left leased for the full 15 s: the next hub sends it at once.
      expect(Number(rows[0].due_in_s)).toBeLessThanOrEqual(0);
    } finally {
      await db.drop();
    }
  });
});

describe('two hubs on one database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('never make the same attempt twice, and share the work', async () => {
    const rs = await Promise.all([receiver(), receiver(), receiver(), receiver()]);
    for (const r of rs) {
      const seen = new Map<string, number>();
      // Every delivery fails once (a retry is a second attempt, to be made once too), then succeeds.
      r.answer(async (req) => {
        const id = String(req.headers['x-webhook-delivery']);
        seen.set(id, (seen.get(id) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 30));
        return seen.get(id) === 1 ? 500 : 200;
      });
      await addWebhook(db, r.url);
    }
    const a = await hubOn(db);
    const b = await hubOn(db);
    for (let i = 0; i < 15; i++) await enqueue(db, { event_public_id: 'ev', sensor: 's', value: i, ts: i });
    const total = 60;

    await eventually(async () => {
      const all = await deliveries(db);
      return all.length === total && all.every((d) => d.status === 'delivered') ? true : undefined;
    }, 30_000, 'all delivered');
    await new Promise((resolve) => setTimeout(resolve, 2_500));

    const counts = postsPerDelivery(...rs);
    expect(counts.size).toBe(total);
    expect([...counts.values()].every((n) => n === 2)).toBe(true);
    expect((await deliveries(db)).every((d) => d.attempts === 2)).toBe(true);

    // Both hubs made attempts (so the test did put two senders against each other).
    const attemptsOf = async (h: RunningHub): Promise<number> => {
      const text = await (await fetch(`${h.baseUrl}/metrics`)).text();
      return [...text.matchAll(/^hub_webhook_deliveries_total\{outcome="[a-z_]+"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const [na, nb] = [await attemptsOf(a), await attemptsOf(b)];
    expect(na).toBeGreaterThan(0);
    expect(nb).toBeGreaterThan(0);
    expect(na + nb).toBe(2 * total);
  }, 60_000);
});
