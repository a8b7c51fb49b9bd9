/**
 * Rules with two hubs on one database (PROTOCOL.md §11, §15): cooldowns are claimed in
 * PostgreSQL, so points matching one rule that arrive at both hubs at once trigger it once per
 * cooldown — one log entry, one alert to the subscribers of both hubs, one webhook delivery.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient, Push } from '../../src/client/hub-client.js';
import { startFirstHub, startPeerHub, type PeerHub } from '../support/cluster.js';
import type { TestHub } from '../support/hub.js';
import { startTestNats, type TestNats } from '../support/nats-server.js';

type Rec = Record<string, any>;
let nats: TestNats;
let a: TestHub;
let b: PeerHub;
let adminA: HubClient;
let adminB: HubClient;

beforeAll(async () => {
  nats = await startTestNats();
  a = await startFirstHub(nats.url);
  b = await startPeerHub(a, nats.url);
  adminA = await a.connect(a.adminToken);
  adminB = await b.connect(a.adminToken);
}, 60_000);
afterAll(async () => {
  await adminA?.close();
  await adminB?.close();
  await b?.stop();
  await a?.stop();
  await nats?.stop();
});

function alertsOf(client: HubClient): Rec[] {
  const out: Rec[] = [];
  client.onPush((push: Push) => {
    if (push.op === 'alert') out.push(push.data as Rec);
  });
  return out;
}

describe('a rule and points at two hubs', () => {
  it('triggers once per cooldown however the matching points are spread over the hubs', async () => {
    const event = (await adminA.request<Rec>('events.create', { name: 'cluster-rule' })).public_id;
    const rule = await adminA.request<Rec>('rules.create', {
      name: 'cluster-hot',
      event_public_id: event,
      operator: 'gt',
      threshold: 0,
      cooldown_seconds: 3600,
    });
    const watchers = [await a.connect(a.adminToken), await b.connect(a.adminToken)];
    const alerts = watchers.map(alertsOf);
    for (const w of watchers) await w.request('subscribe', { topics: ['alerts'] });
    // Both hubs, 20 messages each in flight at once, every point matching.
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      for (const admin of [adminA, adminB]) sends.push(admin.request('ingest', { points: Array.from({ length: 50 }, (_, k) => ({ event, value: 1 + i * 50 + k })) }));
    }
    await Promise.all(sends);
    const { rows: logs } = await a.database.pool.query('SELECT content FROM log_entries WHERE content LIKE $1', [`%Rule "${rule.name}"%`]);
    expect(logs).toHaveLength(1);
    for (const seen of alerts) await expect.poll(() => seen.length, { timeout: 5000 }).toBe(1);
    // Nothing more arrives later either.
    await new Promise((r) => setTimeout(r, 500));
    expect(alerts.map((s) => s.length)).toEqual([1, 1]);
    const { rows: stored } = await a.database.pool.query('SELECT count(*)::int AS n FROM datapoints WHERE event_public_id = $1', [event]);
    expect(stored[0].n).toBe(2000);
    for (const w of watchers) await w.close();
  }, 60_000);
});
