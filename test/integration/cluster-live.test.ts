/**
 * Live pushes across hubs on NATS (PROTOCOL.md §15): points committed at one hub reach the
 * subscribers of every hub in that hub's commit order, and `since` resumes at another hub with
 * no gap and no point twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { collectReadings, startFirstHub, startPeerHub, type PeerHub } from '../support/cluster.js';
import type { TestHub } from '../support/hub.js';
import { startTestNats, type TestNats } from '../support/nats-server.js';

type Rec = Record<string, any>;
let nats: TestNats;
let a: TestHub;
let b: PeerHub;
let c: PeerHub;
let adminA: HubClient;
let adminB: HubClient;

beforeAll(async () => {
  nats = await startTestNats();
  a = await startFirstHub(nats.url);
  b = await startPeerHub(a, nats.url);
  c = await startPeerHub(a, nats.url);
  adminA = await a.connect(a.adminToken);
  adminB = await b.connect(a.adminToken);
}, 60_000);
afterAll(async () => {
  await adminA?.close();
  await adminB?.close();
  await c?.stop();
  await b?.stop();
  await a?.stop();
  await nats?.stop();
});

const values = (list: [number, number][] | undefined) => (list ?? []).map(([, v]) => v);
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('live pushes across hubs', () => {
  it('10 000 points ingested at two hubs reach subscribers at all three, each hub’s points in its commit order, none twice', async () => {
    const event = (await adminA.request<Rec>('events.create', { name: 'cluster-order' })).public_id;
    const watchers = [await a.connect(a.adminToken), await b.connect(a.adminToken), await c.connect(a.adminToken, 'msgpack')];
    const seen = watchers.map((w) => collectReadings(w));
    for (const w of watchers) await w.request('subscribe', { events: [event] });
    const ts0 = Date.now();
    // Hub A ingests 0..4999, hub B 100000..104999, interleaved in batches of 250.
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 5000; i += 250) {
      sends.push(adminA.request('ingest', { points: range(i, 250).map((v) => ({ event, value: v, ts: ts0 + v })) }));
      sends.push(adminB.request('ingest', { points: range(100_000 + i, 250).map((v) => ({ event, value: v, ts: ts0 + v })) }));
    }
    await Promise.all(sends);
    for (const s of seen) {
      await expect.poll(() => values(s.get(event)).length, { timeout: 15_000 }).toBe(10_000);
      const got = values(s.get(event));
      // Each hub's points in the order it committed them (its own order of ingest here).
      expect(got.filter((v) => v < 100_000)).toEqual(range(0, 5000));
      expect(got.filter((v) => v >= 100_000)).toEqual(range(100_000, 5000));
    }
    for (const w of watchers) await w.close();
    const metrics = await (await fetch(`${b.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^hub_bus_messages\{direction="received"\} [1-9]/m);
    expect(metrics).toMatch(/^hub_bus_up 1/m);
  }, 60_000);

  it('a subscriber at another hub receives the events it watches and nothing else', async () => {
    const [x, y] = [
      (await adminA.request<Rec>('events.create', { name: 'cluster-x' })).public_id,
      (await adminA.request<Rec>('events.create', { name: 'cluster-y' })).public_id,
    ];
    const watcher = await b.connect(a.adminToken);
    const seen = collectReadings(watcher);
    await watcher.request('subscribe', { events: [x] });
    await adminA.request('ingest', { points: [{ event: y, value: 1 }, { event: x, value: 2 }] });
    await expect.poll(() => values(seen.get(x)), { timeout: 5000 }).toEqual([2]);
    expect(seen.has(y)).toBe(false);
    await watcher.close();
  });

  // Quarantined in session 2 (the replaying socket at the peer hub was cut with 1006 in some
  // runs). Not seen since the fan-out's hand-over fix (653805e): 0 failures in 27 runs of this
  // file on the loaded machine, against 1 in 8 at the quarantine's commit.
  it('resumes with since at another hub while points are being ingested: no gap, no point twice', async () => {
    const event = (await adminA.request<Rec>('events.create', { name: 'cluster-resume' })).public_id;
    const ts0 = Date.now() - 100_000;
    await adminA.request('ingest', { points: range(0, 2000).map((v) => ({ event, value: v, ts: ts0 + v })) });
    let next = 2000;
    let stop = false;
    const producing = (async () => {
      while (!stop) {
        await adminA.request('ingest', { points: range(next, 50).map((v) => ({ event, value: v, ts: ts0 + v })) });
        next += 50;
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    const watcher = await b.connect(a.adminToken);
    const seen = collectReadings(watcher);
    const since = ts0 + 999; // the last point it saw: value 999
    await watcher.request('subscribe', { events: [event], since });
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await producing;
    await expect.poll(() => values(seen.get(event)).length, { timeout: 10_000 }).toBe(next - 1000);
    expect(values(seen.get(event))).toEqual(range(1000, next - 1000));
    await watcher.close();
  }, 30_000);
});
