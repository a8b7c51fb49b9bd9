/**
 * Presence across hubs (PROTOCOL.md §13, §15): an instance is `connected` while any hub holds
 * one of its sockets; each transition is recorded once (one delivery, one `device` push) however
 * many hubs see it; a hub killed with SIGKILL releases its devices within the lease TTL.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient, Push } from '../../src/client/hub-client.js';
import { LEASE_SWEEP_MS, LEASE_TTL_MS } from '../../src/cluster/presence-leases.js';
import { startFirstHub, startPeerHub, type PeerHub } from '../support/cluster.js';
import { startHubProcess } from '../support/hub-process.js';
import { ADMIN_PASSWORD, rawSocket, type TestHub } from '../support/hub.js';
import { startTestNats, type TestNats } from '../support/nats-server.js';

type Rec = Record<string, any>;
let nats: TestNats;
let a: TestHub;
let b: PeerHub;
let admin: HubClient;
let counter = 0;

beforeAll(async () => {
  nats = await startTestNats({ jetstream: true });
  a = await startFirstHub(nats.url);
  b = await startPeerHub(a, nats.url);
  admin = await a.connect(a.adminToken);
}, 60_000);
afterAll(async () => {
  await admin?.close();
  await b?.stop();
  await a?.stop();
  await nats?.stop();
});

async function device(): Promise<{ instance: string; name: string; token: string }> {
  const name = `cluster-dev-${++counter}`;
  const instance = (await admin.request<Rec>('plugin_instances.create', { plugin_id: 'p', instance_name: name })).public_id as string;
  const { token } = await admin.request<Rec>('api_tokens.create', { name, plugin_instance_public_id: instance });
  return { instance, name, token };
}

const statusOf = async (instance: string): Promise<string> => (await admin.request<Rec>('plugin_instances.get', { public_id: instance })).status;

async function deliveries(hook: string, instance: string): Promise<string[]> {
  const { rows } = await a.database.pool.query(
    `SELECT event_type FROM webhook_deliveries WHERE webhook_public_id = $1 AND payload->>'plugin_instance_public_id' = $2 ORDER BY id`,
    [hook, instance],
  );
  return rows.map((r: Rec) => r.event_type as string);
}

describe('presence across hubs', () => {
  it('counts the sockets of every hub: closed at one, still connected; closed at both, inactive, recorded once', async () => {
    const hook = await admin.request<Rec>('webhooks.create', { url: 'https://example.com/presence', events: ['device.online', 'device.offline'] });
    const d = await device();
    const watcher = await b.connect(a.adminToken);
    const pushes: Rec[] = [];
    watcher.onPush((p: Push) => {
      if (p.op === 'device' && (p.data as Rec).plugin_instance_public_id === d.instance) pushes.push(p.data as Rec);
    });
    await watcher.request('subscribe', { topics: ['devices'] });

    const atA = await a.connect(d.token);
    await expect.poll(() => statusOf(d.instance), { timeout: 5000 }).toBe('connected');
    const atB = await b.connect(d.token);
    await atA.close();
    // Several sweeps and heartbeats go by: still connected, nothing recorded.
    await new Promise((r) => setTimeout(r, LEASE_SWEEP_MS * 2 + 500));
    expect(await statusOf(d.instance)).toBe('connected');
    expect(await deliveries(hook.public_id, d.instance)).toEqual(['device.online']);

    await atB.close();
    await expect.poll(() => statusOf(d.instance), { timeout: 5000 }).toBe('inactive');
    // Both hubs sweep: still recorded once.
    await new Promise((r) => setTimeout(r, LEASE_SWEEP_MS * 2 + 500));
    expect(await statusOf(d.instance)).toBe('inactive');
    expect(await deliveries(hook.public_id, d.instance)).toEqual(['device.online', 'device.offline']);
    expect(pushes.map((p) => p.status)).toEqual(['connected', 'inactive']);
    await watcher.close();
    await admin.request('webhooks.delete', { public_id: hook.public_id });
  }, 30_000);

  it('both hubs losing their sockets at once record the transition once', async () => {
    const hook = await admin.request<Rec>('webhooks.create', { url: 'https://example.com/presence2', events: ['device.offline'] });
    for (let i = 0; i < 3; i++) {
      const d = await device();
      const atA = await a.connect(d.token);
      const atB = await b.connect(d.token);
      await expect.poll(() => statusOf(d.instance), { timeout: 5000 }).toBe('connected');
      await Promise.all([atA.close(), atB.close()]);
      await expect.poll(() => statusOf(d.instance), { timeout: 5000 }).toBe('inactive');
      await new Promise((r) => setTimeout(r, 500));
      expect(await deliveries(hook.public_id, d.instance)).toEqual(['device.offline']);
    }
    await admin.request('webhooks.delete', { public_id: hook.public_id });
  }, 30_000);

  it('a hub killed with SIGKILL releases its devices within the lease TTL, recorded once', async () => {
    const hook = await admin.request<Rec>('webhooks.create', { url: 'https://example.com/presence3', events: ['device.online', 'device.offline'] });
    const d = await device();
    const proc = await startHubProcess({
      env: { DATABASE_URL: a.database.url, NATS_URL: nats.url, HUB_ADMIN_PASSWORD: ADMIN_PASSWORD, HUB_DATA_DIR: `${a.dataDir}-killed` },
      timeoutMs: 60_000,
    });
    const ws = await rawSocket(`ws://127.0.0.1:${proc.port}/ws`, d.token);
    ws.on('error', () => undefined);
    await expect.poll(() => statusOf(d.instance), { timeout: 5000 }).toBe('connected');
    await proc.stop('SIGKILL');
    const killed = Date.now();
    await expect.poll(() => statusOf(d.instance), { timeout: LEASE_TTL_MS + LEASE_SWEEP_MS + 5000, interval: 250 }).toBe('inactive');
    const took = Date.now() - killed;
    expect(took).toBeLessThanOrEqual(LEASE_TTL_MS + LEASE_SWEEP_MS + 2000);
    await new Promise((r) => setTimeout(r, LEASE_SWEEP_MS + 500));
    expect(await deliveries(hook.public_id, d.instance)).toEqual(['device.online', 'device.offline']);
    await admin.request('webhooks.delete', { public_id: hook.public_id });
    await rm(`${a.dataDir}-killed`, { recursive: true, force: true });
  }, 90_000);
});
