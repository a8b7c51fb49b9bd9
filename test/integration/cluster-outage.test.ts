/**
 * NATS unreachable (PROTOCOL.md §15): each hub keeps ingesting and serving its own sockets,
 * /healthz says `"status": "degraded"`, `"bus": "error"` (still 200), and `"bus": "ok"` again
 * once NATS is back, with live pushes crossing hubs again — and within 5 s every subscriber has
 * the points committed at other hubs meanwhile, read back from PostgreSQL: none lost, none
 * twice, each hub's in its commit order. Also when only one hub lost NATS (a cut link).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { collectReadings, startFirstHub, startPeerHub, type PeerHub } from '../support/cluster.js';
import { startTestHub, type TestHub } from '../support/hub.js';
import { startTestNats, type TestNats } from '../support/nats-server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

type Rec = Record<string, any>;
let nats: TestNats;
let a: TestHub;
let b: PeerHub;
let adminA: HubClient;

beforeAll(async () => {
  nats = await startTestNats();
  a = await startFirstHub(nats.url);
  b = await startPeerHub(a, nats.url);
  adminA = await a.connect(a.adminToken);
}, 60_000);
afterAll(async () => {
  await adminA?.close();
  await b?.stop();
  await a?.stop();
  await nats?.stop();
});

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

const health = async (baseUrl: string): Promise<Rec> => {
  const res = await fetch(`${baseUrl}/healthz`);
  return { code: res.status, ...((await res.json()) as Rec) };
};

describe('NATS down and back', () => {
  it('a hub without NATS_URL reports "bus": "none"', async () => {
    const lone = await startTestHub();
    try {
      expect(await health(lone.baseUrl)).toMatchObject({ code: 200, status: 'ok', bus: 'none' });
    } finally {
      await lone.stop();
    }
  });

  it('degraded while NATS is down, ingest and local pushes unaffected; ok again when it returns', async () => {
    expect(await health(a.baseUrl)).toMatchObject({ code: 200, status: 'ok', database: 'ok', bus: 'ok' });
    const event = (await adminA.request<Rec>('events.create', { name: 'outage' })).public_id;
    const local = await a.connect(a.adminToken);
    const remote = await b.connect(a.adminToken);
    const seenLocal = collectReadings(local);
    const seenRemote = collectReadings(remote);
    await local.request('subscribe', { events: [event] });
    await remote.request('subscribe', { events: [event] });
    await adminA.request('ingest', { points: [{ event, value: 1 }] });
    await expect.poll(() => seenRemote.get(event)?.length ?? 0, { timeout: 5000 }).toBe(1);

    await nats.kill();
    for (const hub of [a.baseUrl, b.baseUrl]) {
      await expect.poll(async () => (await health(hub)).bus, { timeout: 10_000 }).toBe('error');
      expect(await health(hub)).toMatchObject({ code: 200, status: 'degraded', database: 'ok', bus: 'error' });
    }
    expect(await adminA.request('ingest', { points: [{ event, value: 2 }] })).toMatchObject({ accepted: 1 });
    await expect.poll(() => seenLocal.get(event)?.map(([, v]) => v), { timeout: 5000 }).toEqual([1, 2]);

    await nats.start();
    for (const hub of [a.baseUrl, b.baseUrl]) {
      await expect.poll(async () => (await health(hub)).status, { timeout: 10_000 }).toBe('ok');
    }
    // The point committed at A while NATS was down reaches B's subscriber from PostgreSQL.
    await expect.poll(() => seenRemote.get(event)?.map(([, v]) => v), { timeout: 5000 }).toEqual([1, 2]);
    const metrics = await (await fetch(`${b.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^hub_bus_gap_fill\{what="points"\} [1-9]/m);
    await adminA.request('ingest', { points: [{ event, value: 3 }] });
    await expect.poll(() => seenRemote.get(event)?.map(([, v]) => v), { timeout: 5000 }).toEqual([1, 2, 3]);
    await local.close();
    await remote.close();
  }, 60_000);

  it('NATS killed and restarted during ingest at both hubs: every subscriber gets every point once, in each hub’s order, within 5 s', async () => {
    const event = (await adminA.request<Rec>('events.create', { name: 'outage-ingest' })).public_id;
    const adminB = await b.connect(a.adminToken);
    const watchers = [await a.connect(a.adminToken), await b.connect(a.adminToken, 'msgpack')];
    const seen = watchers.map((w) => collectReadings(w));
    for (const w of watchers) await w.request('subscribe', { events: [event] });
    const ts0 = Date.now();
    let next = 0;
    let stop = false;
    // A ingests 0, 1, 2, …; B ingests 1 000 000, 1 000 001, …; 20 points a message, back to back.
    const produce = async (client: HubClient, offset: number): Promise<number> => {
      let sent = 0;
      while (!stop) {
        const from = next;
        next += 20;
        await client.request('ingest', { points: range(from, 20).map((v) => ({ event, value: offset + v, ts: ts0 + v })) });
        sent += 20;
      }
      return sent;
    };
    const producing = Promise.all([produce(adminA, 0), produce(adminB, 1_000_000)]);
    await new Promise((r) => setTimeout(r, 500));
    await nats.kill();
    await new Promise((r) => setTimeout(r, 1500));
    await nats.start();
    for (const hub of [a.baseUrl, b.baseUrl]) await expect.poll(async () => (await health(hub)).bus, { timeout: 10_000 }).toBe('ok');
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    const [sentA, sentB] = await producing;
    const back = Date.now();
    for (const s of seen) {
      await expect.poll(() => s.get(event)?.length ?? 0, { timeout: 5000 }).toBeGreaterThanOrEqual(sentA + sentB);
      const got = (s.get(event) ?? []).map(([, v]) => v);
      expect(got.length).toBe(sentA + sentB);
      const fromA = got.filter((v) => v < 1_000_000);
      const fromB = got.filter((v) => v >= 1_000_000);
      expect(fromA).toEqual([...fromA].sort((x, y) => x - y));
      expect(fromB).toEqual([...fromB].sort((x, y) => x - y));
      expect(new Set(got).size).toBe(got.length);
    }
    expect(Date.now() - back).toBeLessThan(5000);
    for (const w of [...watchers, adminB]) await w.close();
  }, 90_000);
});

describe('one hub cut off from NATS', () => {
  let proxy: TcpProxy;
  let c: PeerHub;
  let d: PeerHub;

  beforeAll(async () => {
    proxy = await startTcpProxy(Number(new URL(nats.url).port));
    // C reaches NATS through the proxy; D directly.
    c = await startPeerHub(a, `nats://127.0.0.1:${proxy.port}`);
    d = await startPeerHub(a, nats.url);
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
    await d?.stop();
    await proxy?.close();
  });

  it('its commits meanwhile reach the other hubs’ subscribers when it is back (its resync), none twice', async () => {
    const event = (await adminA.request<Rec>('events.create', { name: 'outage-one-hub' })).public_id;
    const adminC = await c.connect(a.adminToken);
    const watcher = await d.connect(a.adminToken);
    const seen = collectReadings(watcher);
    await watcher.request('subscribe', { events: [event] });
    await adminC.request('ingest', { points: [{ event, value: 1 }] });
    await expect.poll(() => seen.get(event)?.map(([, v]) => v), { timeout: 5000 }).toEqual([1]);

    proxy.refuse(true);
    proxy.cut();
    await expect.poll(async () => (await health(c.baseUrl)).bus, { timeout: 10_000 }).toBe('error');
    expect((await health(d.baseUrl)).bus).toBe('ok');
    for (let v = 2; v <= 50; v++) await adminC.request('ingest', { points: [{ event, value: v }] });
    proxy.refuse(false);
    await expect.poll(async () => (await health(c.baseUrl)).bus, { timeout: 10_000 }).toBe('ok');
    await adminC.request('ingest', { points: [{ event, value: 51 }] });
    await expect.poll(() => seen.get(event)?.length ?? 0, { timeout: 5000 }).toBeGreaterThanOrEqual(51);
    expect(seen.get(event)?.map(([, v]) => v)).toEqual(range(1, 51));
    await adminC.close();
    await watcher.close();
  }, 60_000);
});
