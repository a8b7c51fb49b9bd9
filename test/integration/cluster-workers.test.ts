/**
 * `HUB_WORKERS=N` (src/cluster/workers.ts): the program runs N hub processes on one port, the
 * kernel spreads sockets over them (SO_REUSEPORT), a point ingested at one worker reaches a
 * subscriber at the other through NATS, a dead worker is restarted, SIGTERM stops all with 0.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubClient, type SocketLike } from '../../src/client/hub-client.js';
import { collectReadings } from '../support/cluster.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { spawnHub, startHubProcess, type HubProcess } from '../support/hub-process.js';
import { ADMIN_PASSWORD } from '../support/hub.js';
import { startTestNats, type TestNats } from '../support/nats-server.js';

type Rec = Record<string, any>;
let nats: TestNats;
let database: TestDatabase;
let dataDir: string;
let hub: HubProcess;
const clients: HubClient[] = [];

const env = (): Record<string, string> => ({
  DATABASE_URL: database.url,
  NATS_URL: nats.url,
  HUB_WORKERS: '2',
  HUB_DATA_DIR: dataDir,
  HUB_ADMIN_PASSWORD: ADMIN_PASSWORD,
  HUB_JWT_SECRET: 'a-test-secret-that-is-long-enough-0123456789',
  HUB_DEMO: '0',
  HUB_LOG_LEVEL: 'debug',
});

/** The pids of the workers the primary reported listening, in order. */
const workerPids = (): number[] => [...hub.output().matchAll(/"workerPid":(\d+),"port":\d+,"msg":"hub worker listening"/g)].map((m) => Number(m[1]));
/** The pid of each `socket open` log line, in order. */
const socketOpens = (): number[] => [...hub.output().matchAll(/"pid":(\d+)[^\n]*"msg":"socket open"/g)].map((m) => Number(m[1]));

beforeAll(async () => {
  nats = await startTestNats();
  database = await createTestDatabase();
  dataDir = await mkdtemp(path.join(tmpdir(), 'hub-workers-'));
  hub = await startHubProcess({ env: env(), timeoutMs: 60_000 });
  const deadline = Date.now() + 60_000;
  while (!/"msg":"all hub workers listening"/.test(hub.output())) {
    if (Date.now() > deadline) throw new Error(`the workers did not all listen:\n${hub.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 90_000);
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await hub?.stop('SIGKILL');
  for (const pid of workerPids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await database?.drop();
  await nats?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function login(): Promise<string> {
  const res = await fetch(`${hub.baseUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Connects a socket and returns it with the pid of the worker that took it (from its log line). */
async function connect(token: string): Promise<{ client: HubClient; pid: number }> {
  const before = socketOpens().length;
  const client = await HubClient.connect({
    url: `ws://127.0.0.1:${hub.port}/ws`,
    token,
    createSocket: (url, t) => new WebSocket(url, { headers: { authorization: `Bearer ${t}` } }) as unknown as SocketLike,
  });
  clients.push(client);
  await expect.poll(() => socketOpens().length, { timeout: 5000, interval: 20 }).toBe(before + 1);
  return { client, pid: socketOpens()[before]! };
}

describe('HUB_WORKERS=2', () => {
  it('runs two hub processes on one port; sockets land on both; a point ingested at one reaches a subscriber at the other', async () => {
    const pids = workerPids();
    expect(pids).toHaveLength(2);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(hub.child.pid);
    const token = await login();
    const sockets: { client: HubClient; pid: number }[] = [];
    // The kernel hashes each connection to a listener: 24 sockets all on one of two is 2^-23.
    for (let i = 0; i < 24; i++) sockets.push(await connect(token));
    const byPid = new Map<number, { client: HubClient; pid: number }[]>();
    for (const s of sockets) byPid.set(s.pid, [...(byPid.get(s.pid) ?? []), s]);
    expect([...byPid.keys()].sort()).toEqual([...pids].sort());

    const [first, second] = pids as [number, number];
    const subscriber = byPid.get(first)![0]!.client;
    const device = byPid.get(second)![0]!.client;
    const event = (await device.request<Rec>('events.create', { name: 'across-workers' })).public_id as string;
    const seen = collectReadings(subscriber);
    await subscriber.request('subscribe', { events: [event] });
    await device.request('ingest', { points: [1, 2, 3].map((value) => ({ event, value })) });
    await expect.poll(() => (seen.get(event) ?? []).map(([, v]) => v), { timeout: 5000 }).toEqual([1, 2, 3]);
  }, 60_000);

  it('restarts a worker killed with SIGKILL, on the same port', async () => {
    const [, victim] = workerPids() as [number, number];
    process.kill(victim, 'SIGKILL');
    await expect.poll(() => /"msg":"hub worker died; restarting it"/.test(hub.output()), { timeout: 5000 }).toBe(true);
    await expect.poll(() => workerPids().length, { timeout: 30_000, interval: 100 }).toBe(3);
    const token = await login();
    const pids = new Set<number>();
    for (let i = 0; i < 24 && pids.size < 2; i++) pids.add((await connect(token)).pid);
    expect([...pids].sort()).toEqual(workerPids().slice(0, 1).concat(workerPids().slice(2)).sort());
  }, 60_000);

  it('SIGTERM to the program stops every worker and exits 0', async () => {
    const pids = workerPids();
    expect(await hub.stop('SIGTERM')).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 90_000);
});

describe('HUB_WORKERS without NATS_URL', () => {
  it('is refused with exit code 2 and a message naming NATS_URL', async () => {
    const { exited, output } = spawnHub({ env: { HUB_WORKERS: '2', NATS_URL: '' } });
    expect(await exited).toBe(2);
    expect(output()).toMatch(/HUB_WORKERS=2 needs NATS_URL/);
  });
});
