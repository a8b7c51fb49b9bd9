/**
 * NATS unreachable (PROTOCOL.md §15): each hub keeps ingesting and serving its own sockets,
 * /healthz says `"status": "degraded"`, `"bus": "error"` (still 200), and `"bus": "ok"` again
 * once NATS is back, with live pushes crossing hubs again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { collectReadings, startFirstHub, startPeerHub, type PeerHub } from '../support/cluster.js';
import { startTestHub, type TestHub } from '../support/hub.js';
import { startTestNats, type TestNats } from '../support/nats-server.js';

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
    await adminA.request('ingest', { points: [{ event, value: 3 }] });
    await expect.poll(() => seenRemote.get(event)?.map(([, v]) => v).includes(3), { timeout: 5000 }).toBe(true);
    await local.close();
    await remote.close();
  }, 60_000);
});
