/**
 * Faults during ingest: the hub killed with SIGKILL, the database stopped and started. Every
 * acknowledged point must be in the database afterwards.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { HubClient, type SocketLike } from '../../src/client/hub-client.js';
import { loadConfig } from '../../src/config.js';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { createLogger } from '../../src/log.js';
import { startHub } from '../../src/main.js';
import { createTestDatabase } from '../support/db.js';
import { streamPoints } from '../support/device-stream.js';
import { startHubProcess } from '../support/hub-process.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

const PASSWORD = 'fault-test-password';

async function login(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
  return ((await res.json()) as { access_token: string }).access_token;
}

function connect(port: number, token: string): Promise<HubClient> {
  return HubClient.connect({
    url: `ws://127.0.0.1:${port}/ws`,
    token,
    createSocket: (url, t) => new WebSocket(url, { headers: { authorization: `Bearer ${t}` } }) as unknown as SocketLike,
  });
}

async function storedAmong(url: string, values: number[]): Promise<Set<number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ value: number }>('SELECT value FROM datapoints WHERE value = ANY($1::float8[])', [values]);
  await client.end();
  return new Set(rows.map((r) => r.value));
}

describe('a hub killed with SIGKILL while devices stream', () => {
  it('has every acknowledged point in the database, and a restarted hub stores each seq once', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const dir = await mkdtemp(path.join(tmpdir(), 'hub-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const env = { DATABASE_URL: database.url, HUB_DATA_DIR: dir, HUB_ADMIN_PASSWORD: PASSWORD };
    const hub = await startHubProcess({ env });
    cleanups.push(() => hub.stop('SIGKILL'));
    const token = await login(hub.baseUrl);
    const setup = await connect(hub.port, token);
    const event = (await setup.request<{ public_id: string }>('events.create', { name: 'crash' })).public_id;

    const devices = await Promise.all(Array.from({ length: 4 }, () => connect(hub.port, token)));
    const streams = devices.map((client, i) =>
      streamPoints(client, { event, base: i * 10_000_000, pointsPerMessage: 50, window: 4, durationMs: 60_000 }),
    );
    // Let acks flow, then kill the hub mid-stream.
    await new Promise((r) => setTimeout(r, 1500));
    await hub.stop('SIGKILL');
    const results = await Promise.all(streams);
    const acked = results.flatMap((r) => r.acked);
    expect(acked.length).toBeGreaterThan(1000);
    const stored = await storedAmong(database.url, acked);
    const lost = acked.filter((v) => !stored.has(v));
    expect(lost).toEqual([]);

    // Exactly once with seq across the crash: resend the same seqs to a new hub.
    const again = await startHubProcess({ env });
    cleanups.push(() => again.stop('SIGKILL'));
    const client = await connect(again.port, await login(again.baseUrl));
    const first = await client.request<{ seq: number }>('ingest', { seq: 1, points: [{ event, value: -1 }] });
    expect(first).toEqual({ accepted: 1, seq: 1 });
    await again.stop('SIGTERM');
    const third = await startHubProcess({ env });
    cleanups.push(() => third.stop('SIGKILL'));
    const c3 = await connect(third.port, await login(third.baseUrl));
    expect(await c3.request('ingest', { seq: 1, points: [{ event, value: -1 }] })).toEqual({ accepted: 0, seq: 1, duplicate: true });
    expect(await c3.request('ingest', { seq: 2, points: [{ event, value: -2 }] })).toEqual({ accepted: 1, seq: 2 });
    await c3.close();
    const check = new pg.Client({ connectionString: database.url });
    await check.connect();
    expect(Number((await check.query('SELECT count(*) FROM datapoints WHERE value = -1')).rows[0].count)).toBe(1);
    await check.end();
  }, 60_000);
});

describe('a hub killed with SIGKILL while a rule matches every point', () => {
  it('leaves every stored point with its trigger and log entry, and no trigger without its point', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const dir = await mkdtemp(path.join(tmpdir(), 'hub-crash-rules-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const env = { DATABASE_URL: database.url, HUB_DATA_DIR: dir, HUB_ADMIN_PASSWORD: PASSWORD };
    const hub = await startHubProcess({ env });
    cleanups.push(() => hub.stop('SIGKILL'));
    const token = await login(hub.baseUrl);
    const setup = await connect(hub.port, token);
    const event = (await setup.request<{ public_id: string }>('events.create', { name: 'crash-rule' })).public_id;
    // Cooldown 0: every stored point must have fired the rule once.
    const rule = await setup.request<{ name: string }>('rules.create', {
      name: 'every-point',
      event_public_id: event,
      operator: 'gt',
      threshold: -1,
      cooldown_seconds: 0,
    });
    const devices = await Promise.all(Array.from({ length: 3 }, () => connect(hub.port, token)));
    let ackedSoFar = 0;
    const onAck = (values: number[]): void => void (ackedSoFar += values.length);
    const streams = devices.map((client, i) =>
      streamPoints(client, { event, base: i * 10_000_000, pointsPerMessage: 50, window: 4, durationMs: 60_000, onAck }),
    );
    // Kill it mid-stream, once a few hundred points are in and some acks have come back (however
    // loaded the machine is: the first batch may hold every message in flight, committed at once
    // and stored before its acks arrive).
    const check0 = new pg.Client({ connectionString: database.url });
    await check0.connect();
    await expect
      .poll(async () => Number((await check0.query('SELECT count(*) FROM datapoints WHERE event_public_id = $1', [event])).rows[0].count), { timeout: 30_000, interval: 100 })
      .toBeGreaterThan(300);
    await expect.poll(() => ackedSoFar, { timeout: 30_000, interval: 20 }).toBeGreaterThan(0);
    await check0.end();
    await hub.stop('SIGKILL');
    const acked = (await Promise.all(streams)).flatMap((r) => r.acked);
    expect(acked.length).toBeGreaterThan(0);

    const check = new pg.Client({ connectionString: database.url });
    await check.connect();
    const points = (await check.query<{ value: number }>('SELECT value FROM datapoints WHERE event_public_id = $1 ORDER BY value', [event])).rows.map((r) => r.value);
    const logged = (
      await check.query<{ content: string }>('SELECT content FROM log_entries WHERE content LIKE $1', [`Rule "${rule.name}" triggered:%`])
    ).rows.map((r) => Number(r.content.match(/= (\S+) \(/)?.[1]));
    await check.end();
    // Every acknowledged point is stored; stored points and triggers match one to one.
    const stored = new Set(points);
    expect(acked.filter((v) => !stored.has(v))).toEqual([]);
    expect(logged.sort((a, b) => a - b)).toEqual(points);
  }, 60_000);
});

describe('SIGTERM while devices stream', () => {
  it('stops taking ingest, commits and acknowledges what was queued, closes with 1001 and exits 0', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const dir = await mkdtemp(path.join(tmpdir(), 'hub-term-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const hub = await startHubProcess({ env: { DATABASE_URL: database.url, HUB_DATA_DIR: dir, HUB_ADMIN_PASSWORD: PASSWORD } });
    cleanups.push(() => hub.stop('SIGKILL'));
    const token = await login(hub.baseUrl);
    const setup = await connect(hub.port, token);
    const event = (await setup.request<{ public_id: string }>('events.create', { name: 'term' })).public_id;
    const devices = await Promise.all(Array.from({ length: 3 }, () => connect(hub.port, token)));
    const closes = devices.map((d) => d.closed);
    const streams = devices.map((client, i) => streamPoints(client, { event, base: i * 1e7, pointsPerMessage: 200, window: 4, durationMs: 30_000 }));
    await new Promise((r) => setTimeout(r, 1000));
    expect(await hub.stop('SIGTERM')).toBe(0);
    const results = await Promise.all(streams);
    for (const close of await Promise.all(closes)) expect(close.code).toBe(1001);
    const acked = results.flatMap((r) => r.acked);
    expect(acked.length).toBeGreaterThan(0);
    const stored = await storedAmong(database.url, acked);
    expect(acked.filter((v) => !stored.has(v))).toEqual([]);
  }, 60_000);
});

describe('the database stopped and started during ingest, fan-out and CRUD', () => {
  it('answers busy while it is down (ingest, CRUD, login, upgrade), resumes by itself, and loses nothing acknowledged', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hub-dbrestart-'));
    await chmod(dir, 0o711);
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const log = createLogger('silent');
    let pgServer = await startEmbeddedPostgres(dir, log);
    cleanups.push(() => pgServer.stop());
    const hubDir = await mkdtemp(path.join(tmpdir(), 'hub-dbrestart-data-'));
    cleanups.push(() => rm(hubDir, { recursive: true, force: true }));
    const config = loadConfig({
      DATABASE_URL: pgServer.url,
      HUB_PORT: '0',
      HUB_DATA_DIR: hubDir,
      HUB_ADMIN_PASSWORD: PASSWORD,
      HUB_QUEUE_CAPACITY: '300',
      HUB_MAX_BATCH_POINTS: '100',
    });
    const hub = await startHub(config, log);
    cleanups.push(() => hub.stop());
    const token = await login(`http://127.0.0.1:${hub.port}`);
    const client = await connect(hub.port, token);
    const event = (await client.request<{ public_id: string }>('events.create', { name: 'restart' })).public_id;
    // A dashboard watching live through the outage.
    const watcher = await connect(hub.port, token);
    const seen = new Set<number>();
    watcher.onPush((push) => {
      if (push.op === 'readings') for (const [, value] of (push.data as { points: [number, number][] }).points) seen.add(value);
    });
    await watcher.request('subscribe', { events: [event] });

    const stream = streamPoints(client, { event, base: 0, pointsPerMessage: 100, window: 4, durationMs: 9000, withSeq: false });
    await new Promise((r) => setTimeout(r, 1500));
    await pgServer.stop();
    await new Promise((r) => setTimeout(r, 2500));
    const health = await fetch(`http://127.0.0.1:${hub.port}/healthz`);
    expect(health.status).toBe(503);
    // Everything that needs the database says busy (503, retry_after_ms), never 500 or a hang.
    await expect(client.request('events.list', {})).rejects.toMatchObject({ status: 503, code: 'busy' });
    const refusedLogin = await fetch(`http://127.0.0.1:${hub.port}/api/auth/login`, {
      method: 'POST',
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    expect(refusedLogin.status).toBe(503);
    expect(((await refusedLogin.json()) as { error: { retry_after_ms: number } }).error.retry_after_ms).toBeGreaterThan(0);
    const upgrade = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${hub.port}/ws`, { headers: { authorization: `Bearer ${token}` } });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
    });
    expect(upgrade).toBe(503);
    pgServer = await startEmbeddedPostgres(dir, log);
    const result = await stream;

    expect(result.busy).toBeGreaterThan(0);
    expect(result.errors).toEqual([]);
    const stored = await storedAmong(pgServer.url, result.acked);
    expect(result.acked.filter((v) => !stored.has(v))).toEqual([]);
    // Ingest resumed: acks came after the restart too.
    expect(result.acked.length).toBeGreaterThan(0);
    await expect.poll(async () => (await fetch(`http://127.0.0.1:${hub.port}/healthz`)).status, { timeout: 10_000 }).toBe(200);
    expect(await client.request('ingest', { points: [{ event, value: -5 }] })).toEqual({ accepted: 1, seq: null });
    // The live watcher saw every acknowledged point, before and after the outage.
    await expect.poll(() => result.acked.filter((v) => !seen.has(v)).length, { timeout: 10_000 }).toBe(0);
    await expect.poll(() => seen.has(-5)).toBe(true);
    // CRUD, login and upgrades are back.
    await expect(client.request('events.list', {})).resolves.toMatchObject({ total: 1 });
    const again = await connect(hub.port, await login(`http://127.0.0.1:${hub.port}`));
    await expect(again.request('auth.me')).resolves.toMatchObject({ role: 'admin' });
    await again.close();
    await watcher.close();
    await client.close();
  }, 60_000);
});
