/**
 * The gap fill's harder cases across hubs (PROTOCOL.md §15), on a real nats-server, from a
 * review that found each failing: a link that dies without a FIN (the hub publishes into the
 * void until it notices), a hub that stops while cut off (no resync ever comes), and an idle hub
 * with the commit log purged (a blip with nothing missed must not close anyone with 1013).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { purgeCommitLog } from '../../src/db/commit-log.js';
import { createPool } from '../../src/db/pool.js';
import { collectReadings, startFirstHub, startPeerHub, type PeerHub } from '../support/cluster.js';
import type { TestHub } from '../support/hub.js';
import { startTestNats, type TestNats } from '../support/nats-server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

type Rec = Record<string, any>;
let nats: TestNats;
let a: TestHub;
let adminA: HubClient;

beforeAll(async () => {
  nats = await startTestNats();
  a = await startFirstHub(nats.url);
  adminA = await a.connect(a.adminToken);
}, 60_000);
afterAll(async () => {
  await adminA?.close();
  await a?.stop();
  await nats?.stop();
});

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const health = async (baseUrl: string): Promise<Rec> => (await fetch(`${baseUrl}/healthz`)).json() as Promise<Rec>;
const metric = async (baseUrl: string, re: RegExp): Promise<number> => Number(re.exec(await (await fetch(`${baseUrl}/metrics`)).text())?.[1] ?? NaN);

/** A proxy whose open connections can turn into a black hole: bytes vanish, no FIN, no RST (a partition). */
async function startHoleProxy(target: number): Promise<{ port: number; hole(): void; close(): Promise<void> }> {
  const pairs = new Set<{ dead: boolean; client: net.Socket; upstream: net.Socket }>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    const pair = { dead: false, client, upstream };
    pairs.add(pair);
    client.on('data', (d) => void (pair.dead || upstream.write(d)));
    upstream.on('data', (d) => void (pair.dead || client.write(d)));
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    hole: () => {
      for (const p of pairs) p.dead = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pairs) {
          p.client.destroy();
          p.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

describe('a hub whose link to NATS dies without a word', () => {
  let proxy: Awaited<ReturnType<typeof startHoleProxy>>;
  let c: PeerHub;
  let d: PeerHub;
  beforeAll(async () => {
    proxy = await startHoleProxy(nats.port);
    c = await startPeerHub(a, `nats://127.0.0.1:${proxy.port}`);
    d = await startPeerHub(a, nats.url);
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
    await d?.stop();
    await proxy?.close();
  });

  it('its commits published before it noticed reach the other hubs once it is back', async () => {
    const event = (await adminA.request<Rec>('events.create', { name: 'hole' })).public_id;
    const adminC = await c.connect(a.adminToken);
    const watcher = await d.connect(a.adminToken);
    const seen = collectReadings(watcher);
    await watcher.request('subscribe', { events: [event] });
    await adminC.request('ingest', { points: [{ event, value: 1 }] });
    await expect.poll(() => seen.get(event)?.map(([, v]) => v), { timeout: 5000 }).toEqual([1]);

    const reconnects = await metric(c.baseUrl, /^hub_bus_reconnects (\d+)/m);
    proxy.hole();
    // Committed (and acked) at C while its NATS client has not yet noticed the dead link.
    for (let v = 2; v <= 10; v++) {
      await adminC.request('ingest', { points: [{ event, value: v }] });
      await sleep(100);
    }
    // C notices (pings unanswered), reconnects through the proxy; then commits once more.
    await expect.poll(() => metric(c.baseUrl, /^hub_bus_reconnects (\d+)/m), { timeout: 20_000, interval: 250 }).toBeGreaterThan(reconnects);
    await expect.poll(async () => (await health(c.baseUrl)).bus, { timeout: 10_000 }).toBe('ok');
    await adminC.request('ingest', { points: [{ event, value: 11 }] });
    await expect.poll(() => seen.get(event)?.at(-1)?.[1], { timeout: 5000 }).toBe(11);
    await sleep(5000);
    expect(seen.get(event)?.map(([, v]) => v)).toEqual(range(1, 11));
    await adminC.close();
    await watcher.close();
  }, 90_000);
});

describe('a hub that stops while cut off from NATS', () => {
  let proxy: TcpProxy;
  let c: PeerHub;
  let d: PeerHub;
  beforeAll(async () => {
    proxy = await startTcpProxy(nats.port);
    c = await startPeerHub(a, `nats://127.0.0.1:${proxy.port}`);
    d = await startPeerHub(a, nats.url);
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
    await d?.stop();
    await proxy?.close();
  });

  it('its commits meanwhile still reach the other hubs’ subscribers', async () => {
    const event = (await adminA.request<Rec>('events.create', { name: 'cut-then-stopped' })).public_id;
    const adminC = await c.connect(a.adminToken);
    const watcher = await d.connect(a.adminToken);
    const seen = collectReadings(watcher);
    await watcher.request('subscribe', { events: [event] });
    await adminC.request('ingest', { points: [{ event, value: 1 }] });
    await expect.poll(() => seen.get(event)?.map(([, v]) => v), { timeout: 5000 }).toEqual([1]);
    proxy.refuse(true);
    proxy.cut();
    await expect.poll(async () => (await health(c.baseUrl)).bus, { timeout: 10_000 }).toBe('error');
    for (let v = 2; v <= 5; v++) await adminC.request('ingest', { points: [{ event, value: v }] });
    await adminC.close();
    // C is stopped (or dies) before its link comes back: it never sends its resync.
    await c.stop();
    await expect.poll(() => seen.get(event)?.map(([, v]) => v), { timeout: 15_000 }).toEqual(range(1, 5));
    await watcher.close();
  }, 90_000);
});

describe('an idle hub and the commit log purge', () => {
  let b: PeerHub;
  let idle: PeerHub;
  beforeAll(async () => {
    b = await startPeerHub(a, nats.url);
    idle = await startPeerHub(a, nats.url);
  }, 60_000);
  afterAll(async () => {
    await b?.stop();
    await idle?.stop();
  });

  it('a NATS blip with nothing missed does not close the subscribers with 1013 once the log is purged past their watch', async () => {
    const event = (await adminA.request<Rec>('events.create', { name: 'idle-purge' })).public_id;
    const watcher = await b.connect(a.adminToken);
    const seen = collectReadings(watcher);
    let closed: { code: number } | undefined;
    void watcher.closed.then((c) => (closed = c));
    await watcher.request('subscribe', { events: [event] });
    await adminA.request('ingest', { points: [{ event, value: 1 }] });
    await expect.poll(() => seen.get(event)?.map(([, v]) => v), { timeout: 5000 }).toEqual([1]);
    // The idle hub's mark (epoch 0: it never commits) reaches B within a second or two.
    await sleep(2500);
    // An hour later: the purge has removed the commits of the watch's first hour.
    const pool = createPool(a.database.url, { max: 1 });
    pool.on('error', () => undefined);
    try {
      await purgeCommitLog(pool, 0);
    } finally {
      await pool.end();
    }
    await adminA.request('ingest', { points: [{ event, value: 2 }] });
    await expect.poll(() => seen.get(event)?.map(([, v]) => v), { timeout: 5000 }).toEqual([1, 2]);
    await sleep(2500);
    await nats.kill();
    await expect.poll(async () => (await health(b.baseUrl)).bus, { timeout: 10_000 }).toBe('error');
    await nats.start();
    await expect.poll(async () => (await health(b.baseUrl)).bus, { timeout: 10_000 }).toBe('ok');
    await expect.poll(() => metric(b.baseUrl, /^hub_bus_gap_fill\{what="fills"\} (\d+)/m), { timeout: 10_000 }).toBeGreaterThan(0);
    await sleep(2000);
    expect(closed).toBeUndefined();
    await adminA.request('ingest', { points: [{ event, value: 3 }] });
    await expect.poll(() => seen.get(event)?.map(([, v]) => v), { timeout: 5000 }).toEqual([1, 2, 3]);
    await watcher.close();
  }, 90_000);
});
