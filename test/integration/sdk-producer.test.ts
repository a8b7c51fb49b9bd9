/**
 * The SDK's producer against a real hub: it never loses an acknowledged point and never stores
 * one twice — across a hub killed with SIGKILL and restarted, across network cuts, and under
 * `busy` refusals from a small ingest queue — and it ends with everything acknowledged.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Connection, MemorySeqStore, Producer, type IngestPoint } from '../../packages/client/src/index.js';
import { createTestDatabase } from '../support/db.js';
import { startTestHub } from '../support/hub.js';
import { startHubProcess, type HubProcess } from '../support/hub-process.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

const PASSWORD = 'sdk-producer-test-password';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function login(baseUrl: string, password = PASSWORD): Promise<string> {
  const res = await fetch(`${baseUrl}/api/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'admin', password }) });
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Sends points with unique values (from `from`) until `stop()`; returns the next value. */
async function stream(producer: Producer, event: string, from: number, stop: () => boolean, perSend = 50): Promise<number> {
  let value = from;
  while (!stop()) {
    const points: IngestPoint[] = [];
    for (let i = 0; i < perSend; i++) points.push({ event, value: value++ });
    await producer.send(points);
    await sleep(2);
  }
  return value;
}

/** How many times each value was stored (for the values in [from, to)). */
async function storedCounts(url: string, event: string): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ value: number; n: string }>(
      'SELECT value, count(*) AS n FROM datapoints WHERE event_public_id = $1 GROUP BY value',
      [event],
    );
    return new Map(rows.map((r) => [r.value, Number(r.n)]));
  } finally {
    await client.end();
  }
}

function expectExactlyOnce(sent: number, acked: number[], stored: Map<number, number>): void {
  expect(new Set(acked).size).toBe(acked.length); // no point reported twice
  expect(acked.length).toBe(sent); // everything ended acknowledged
  const missing = acked.filter((v) => stored.get(v) !== 1);
  expect(missing.slice(0, 10)).toEqual([]);
  expect(stored.size).toBe(sent); // nothing stored that was not sent, nothing twice
  expect([...stored.values()].every((n) => n === 1)).toBe(true);
}

describe('the producer', () => {
  it('loses no acknowledged point and stores none twice when the hub is killed (SIGKILL) and restarted', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const dir = await mkdtemp(path.join(tmpdir(), 'sdk-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const env = { DATABASE_URL: database.url, HUB_DATA_DIR: dir, HUB_ADMIN_PASSWORD: PASSWORD };
    let hub: HubProcess = await startHubProcess({ env, timeoutMs: 60_000 });
    cleanups.push(() => hub.stop('SIGKILL'));
    const proxy = await startTcpProxy(hub.port);
    cleanups.push(() => proxy.close());
    const token = await login(hub.baseUrl);
    const connection = await Connection.open({ url: `ws://127.0.0.1:${proxy.port}`, token, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } });
    cleanups.push(() => connection.close(1000, '', 0));
    const event = (await connection.call('events.create', { name: 'sdk-crash' })).public_id;

    const producer = new Producer(connection, { maxPoints: 200, lingerMs: 5, window: 4 });
    const acked: number[] = [];
    producer.onAck(({ points }) => acked.push(...points.map((p) => p.value)));
    let stop = false;
    const streaming = stream(producer, event, 0, () => stop);
    await waitFor(() => acked.length > 2000, 30_000);
    await hub.stop('SIGKILL');
    const ackedAtKill = acked.length;
    await sleep(500);
    hub = await startHubProcess({ env, timeoutMs: 60_000 });
    proxy.target = hub.port;
    await waitFor(() => acked.length > ackedAtKill + 2000, 60_000);
    stop = true;
    const sent = await streaming;
    await producer.flush();

    expect(producer.stats.resent).toBeGreaterThan(0);
    expectExactlyOnce(sent, acked, await storedCounts(database.url, event));
  }, 180_000);

  it('loses no acknowledged point and stores none twice when the network is cut again and again', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.stop());
    const proxy = await startTcpProxy(hub.hub.port);
    cleanups.push(() => proxy.close());
    const connection = await Connection.open({
      url: `ws://127.0.0.1:${proxy.port}`,
      token: hub.adminToken,
      encoding: 'msgpack',
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    });
    cleanups.push(() => connection.close(1000, '', 0));
    const event = (await connection.call('events.create', { name: 'sdk-cut' })).public_id;
    const producer = new Producer(connection, { maxPoints: 100, window: 8 });
    const acked: number[] = [];
    producer.onAck(({ points }) => acked.push(...points.map((p) => p.value)));
    let stop = false;
    const streaming = stream(producer, event, 0, () => stop, 20);
    for (let i = 0; i < 8; i++) {
      await sleep(300 + Math.random() * 300);
      proxy.cut();
    }
    await waitFor(() => acked.length > 1000, 30_000);
    stop = true;
    const sent = await streaming;
    await producer.flush();

    expect(proxy.cuts).toBeGreaterThan(0);
    expect(producer.stats.resent).toBeGreaterThan(0);
    expectExactlyOnce(sent, acked, await storedCounts(hub.database.url, event));
  }, 120_000);

  it('backs off on busy (a small HUB_QUEUE_CAPACITY) and still ends with everything stored once', async () => {
    // One sender may hold a quarter of the queue (at least one message): with 16 messages of
    // 100 points in flight against a queue of 400, most are refused busy at first.
    const hub = await startTestHub({ HUB_QUEUE_CAPACITY: '400', HUB_MAX_BATCH_POINTS: '400' });
    cleanups.push(() => hub.stop());
    const connection = await Connection.open({ url: hub.wsUrl.replace('/ws', ''), token: hub.adminToken });
    cleanups.push(() => connection.close(1000, '', 0));
    const event = (await connection.call('events.create', { name: 'sdk-busy' })).public_id;
    const producer = new Producer(connection, { maxPoints: 100, window: 16, lingerMs: 1 });
    const acked: number[] = [];
    producer.onAck(({ points }) => acked.push(...points.map((x) => x.value)));
    const total = 8000;
    for (let v = 0; v < total; v += 100) await producer.send(Array.from({ length: 100 }, (_, k) => ({ event, value: v + k })));
    await producer.flush();

    expect(producer.stats.busy).toBeGreaterThan(0);
    expect(producer.stats.failed).toBe(0);
    expectExactlyOnce(total, acked, await storedCounts(hub.database.url, event));
  }, 120_000);

  it('reports a seq already used by another producer on the same token instead of losing it silently', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.stop());
    const a = await Connection.open({ url: hub.wsUrl, token: hub.adminToken });
    const b = await Connection.open({ url: hub.wsUrl, token: hub.adminToken });
    cleanups.push(() => Promise.all([a.close(1000, '', 0), b.close(1000, '', 0)]));
    const event = (await a.call('events.create', { name: 'sdk-seq-conflict' })).public_id;
    const ahead = new Producer(a, { seqStore: new MemorySeqStore(10_000) });
    await ahead.send({ event, value: 1 });
    await ahead.flush();
    const behind = new Producer(b, { seqStore: new MemorySeqStore(10) });
    const errors: Error[] = [];
    behind.onError((err) => errors.push(err));
    await behind.send({ event, value: 2 });
    await behind.flush();
    expect(errors.map((e) => e.name)).toEqual(['SeqConflictError']);
    expect(behind.stats).toMatchObject({ acked: 0, failed: 1 });
  }, 60_000);
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(20);
  }
}
