/**
 * The SDK's subscriber and connection against a real hub: a dashboard that lives through a hub
 * restart sees every committed point exactly once, in order; topics come back after a
 * reconnect; a revoked token (1008) surfaces and stops the reconnecting.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthError, Connection, Producer, Subscriber, type IngestPoint, type Push } from '../../packages/client/src/index.js';
import { createTestDatabase } from '../support/db.js';
import { startTestHub } from '../support/hub.js';
import { startHubProcess, type HubProcess } from '../support/hub-process.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

const PASSWORD = 'sdk-subscriber-test-password';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(condition: () => boolean, timeoutMs: number, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function login(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
  return ((await res.json()) as { access_token: string }).access_token;
}

describe('the subscriber', () => {
  it('sees every committed point exactly once and in order across a hub restart', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const dir = await mkdtemp(path.join(tmpdir(), 'sdk-sub-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const env = { DATABASE_URL: database.url, HUB_DATA_DIR: dir, HUB_ADMIN_PASSWORD: PASSWORD };
    let hub: HubProcess = await startHubProcess({ env, timeoutMs: 60_000 });
    cleanups.push(() => hub.stop('SIGKILL'));
    const proxy = await startTcpProxy(hub.port);
    cleanups.push(() => proxy.close());
    const token = await login(hub.baseUrl);
    const url = `ws://127.0.0.1:${proxy.port}`;
    const reconnect = { initialDelayMs: 100, maxDelayMs: 1000 };
    const dashboard = await Connection.open({ url, token, reconnect });
    const device = await Connection.open({ url, token, encoding: 'msgpack', reconnect });
    cleanups.push(() => dashboard.close(1000, '', 0), () => device.close(1000, '', 0));
    const events = [(await dashboard.call('events.create', { name: 'sdk-sub-a' })).public_id, (await dashboard.call('events.create', { name: 'sdk-sub-b' })).public_id];

    const seen = new Map<string, [number, number][]>(events.map((e) => [e, []]));
    const connectionLog: string[] = [];
    const count = (): string => events.map((e) => seen.get(e)?.length).join('/');
    dashboard.on('open', () => connectionLog.push(`open after ${count()} points`));
    dashboard.on('disconnect', (ev) => connectionLog.push(`${ev.code} after ${count()} points`));
    let conflated = 0;
    const subscriber = new Subscriber(dashboard);
    await subscriber.subscribe(events, (event, points, info) => {
      if (info.conflated) conflated++;
      seen.get(event)?.push(...points);
    }, { since: 0 });
    let reconnects = 0;
    const resubscribeErrors: Error[] = [];
    subscriber.onError((e) => resubscribeErrors.push(e));
    dashboard.on('open', (ev) => ev.reconnected && reconnects++);

    // The device streams increasing ts to both events; the hub is killed and restarted meanwhile.
    const producer = new Producer(device, { maxPoints: 50, window: 4 });
    const t0 = Date.now() - 60_000;
    let i = 0;
    let stop = false;
    const streaming = (async () => {
      while (!stop) {
        const points: IngestPoint[] = [];
        for (let k = 0; k < 10; k++, i++) points.push({ event: events[i % 2] as string, value: i, ts: t0 + i });
        await producer.send(points);
        await sleep(5);
      }
    })();
    await waitFor(() => (seen.get(events[0] as string)?.length ?? 0) > 300, 30_000, 'live points');
    await hub.stop('SIGKILL');
    await sleep(300);
    hub = await startHubProcess({ env, timeoutMs: 60_000 });
    proxy.target = hub.port;
    await waitFor(() => reconnects > 0, 60_000, 'the reconnect');
    await sleep(1500);
    stop = true;
    await streaming;
    await producer.flush();

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    cleanups.push(() => client.end());
    for (const event of events) {
      const { rows } = await client.query<{ ts: string; value: number }>(
        `SELECT (extract(epoch from timestamp) * 1000)::bigint AS ts, value FROM datapoints WHERE event_public_id = $1 ORDER BY timestamp`,
        [event],
      );
      const stored: [number, number][] = rows.map((r) => [Number(r.ts), r.value]);
      await waitFor(() => (seen.get(event)?.length ?? 0) >= stored.length, 30_000, 'every stored point to arrive');
      await sleep(300); // anything after would be a duplicate
      // Named first, so that a failure says which way it went (and where the reconnects were).
      const got = seen.get(event) ?? [];
      const storedTs = new Set(stored.map(([ts]) => ts));
      const gotTs = new Set(got.map(([ts]) => ts));
      const seenAt = new Map<number, number[]>();
      got.forEach(([ts], k) => seenAt.set(ts, [...(seenAt.get(ts) ?? []), k]));
      expect({
        missing: stored.filter(([ts]) => !gotTs.has(ts)).slice(0, 10),
        twice: [...seenAt.entries()].filter(([, at]) => at.length > 1).slice(0, 10),
        unstored: got.filter(([ts]) => !storedTs.has(ts)).slice(0, 10),
        connection: connectionLog,
      }).toEqual({ missing: [], twice: [], unstored: [], connection: connectionLog });
      expect(got).toEqual(stored);
    }
    expect(resubscribeErrors).toEqual([]);
    expect(conflated).toBe(0);
    expect(reconnects).toBeGreaterThan(0);
  }, 180_000);

  it('re-establishes topic subscriptions after a reconnect', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.stop());
    const proxy = await startTcpProxy(hub.hub.port);
    cleanups.push(() => proxy.close());
    const connection = await Connection.open({ url: `ws://127.0.0.1:${proxy.port}`, token: hub.adminToken, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
    cleanups.push(() => connection.close(1000, '', 0));
    const subscriber = new Subscriber(connection);
    const pushes: Push[] = [];
    await subscriber.subscribeTopics(['log_entries'], (push) => pushes.push(push));
    let reopened = false;
    connection.on('open', () => (reopened = true));
    proxy.cut();
    await waitFor(() => reopened, 20_000, 'the reconnect');
    await sleep(300); // the resubscribe goes out on open
    await connection.call('log_entries.create', { content: 'after the cut', logging_type: 'info' });
    await waitFor(() => pushes.some((p) => (p.data as { content?: string }).content === 'after the cut'), 10_000, 'the log_entry push');
    expect(pushes.every((p) => p.op === 'log_entry')).toBe(true);
  }, 60_000);

  it('reports conflated pushes to the caller (max_rate_hz)', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.stop());
    const connection = await Connection.open({ url: hub.wsUrl, token: hub.adminToken });
    cleanups.push(() => connection.close(1000, '', 0));
    const event = (await connection.call('events.create', { name: 'sdk-conflated' })).public_id;
    const infos: boolean[] = [];
    await new Subscriber(connection).subscribe([event], (_e, _points, info) => infos.push(info.conflated), { maxRateHz: 1 });
    const producer = new Producer(connection, { maxPoints: 10, lingerMs: 0 });
    for (let i = 0; i < 50; i++) {
      await producer.send({ event, value: i });
      await sleep(10);
    }
    await producer.flush();
    await waitFor(() => infos.includes(true), 10_000, 'a conflated push');
  }, 60_000);
});

describe('the connection', () => {
  it('surfaces a revoked token (1008) and does not reconnect with it', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.stop());
    const admin = await Connection.open({ url: hub.wsUrl, token: hub.adminToken });
    cleanups.push(() => admin.close(1000, '', 0));
    const created = await admin.call('api_tokens.create', { name: 'sdk-revoked' });
    const connection = new Connection({ url: hub.wsUrl, token: created.token as string, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
    let opens = 0;
    connection.on('open', () => opens++);
    await connection.opened();
    const closed = new Promise<Error | undefined>((resolve) => connection.on('closed', (ev) => resolve(ev.error)));
    await admin.call('api_tokens.delete', { public_id: created.public_id });
    const error = await closed;
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).code).toBe(1008);
    expect(await connection.closed).toMatchObject({ code: 1008 });
    await sleep(500);
    expect(opens).toBe(1);
    expect(connection.state).toBe('closed');
    await expect(connection.call('auth.me', {})).rejects.toBeInstanceOf(AuthError);
  }, 60_000);

  it('drains on close(): replies already awaited still arrive', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.stop());
    const connection = await Connection.open({ url: hub.wsUrl, token: hub.adminToken });
    const pending = connection.call('events.create', { name: 'sdk-drain' });
    const closed = connection.close();
    await expect(pending).resolves.toMatchObject({ name: 'sdk-drain' });
    expect(await closed).toMatchObject({ code: 1000 });
    await expect(connection.call('auth.me', {})).rejects.toMatchObject({ name: 'ClosedError' });
  }, 60_000);

  it('refuses a bad token at once with an AuthError, without retrying', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.stop());
    const started = Date.now();
    await expect(Connection.open({ url: hub.wsUrl, token: 'not-a-token', reconnect: { initialDelayMs: 10 } })).rejects.toBeInstanceOf(AuthError);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);

  it('times out a request with a TimeoutError and answers errors with a HubRequestError', async () => {
    const hub = await startTestHub();
    cleanups.push(() => hub.stop());
    const connection = await Connection.open({ url: hub.wsUrl, token: hub.adminToken, encoding: 'msgpack' });
    cleanups.push(() => connection.close(1000, '', 0));
    await expect(connection.call('events.get', { public_id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({
      name: 'HubRequestError',
      status: 404,
      code: 'not_found',
    });
    // A command to an instance with no device socket open is refused at once; a request the hub
    // holds longer than our timeout fails with TimeoutError (commands.send waits for the device).
    const instance = await connection.call('plugin_instances.create', { plugin_id: 'sdk', instance_name: 'sdk-timeout' });
    const deviceToken = (await connection.call('api_tokens.create', { name: 'sdk-dev', plugin_instance_public_id: instance.public_id })).token as string;
    const deviceConn = await Connection.open({ url: hub.wsUrl, token: deviceToken });
    cleanups.push(() => deviceConn.close(1000, '', 0));
    await expect(
      connection.call('commands.send', { plugin_instance_public_id: instance.public_id, name: 'slow', timeout_ms: 5000 }, { timeoutMs: 200 }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
  }, 60_000);
});
