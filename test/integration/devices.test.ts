/**
 * Devices (PROTOCOL.md §13): presence through connect, close and a cut connection; last_seen_at;
 * the devices topic; disabled instances; every outcome of a command.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient, Push } from '../../src/client/hub-client.js';
import { MAX_PENDING_PER_INSTANCE } from '../../src/devices/commands.js';
import { rawSocket, startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
let h: TestHub;
let admin: HubClient;
let counter = 0;

beforeAll(async () => {
  // Both hubs of the ghost test below share the database: with NATS_URL, as §15 requires.
  h = await startTestHub({ NATS_URL: 'nats://127.0.0.1:4222' });
  admin = await h.connect(h.adminToken);
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

async function device(): Promise<{ instance: string; name: string; token: string }> {
  const name = `dev-${++counter}`;
  const instance = (await admin.request<Rec>('plugin_instances.create', { plugin_id: 'p', instance_name: name })).public_id as string;
  const { token } = await admin.request<Rec>('api_tokens.create', { name, plugin_instance_public_id: instance });
  return { instance, name, token };
}

/** Polls a bit longer than vitest's default: a status change is a transaction away. */
const poll = { timeout: 5000 };
const statusOf = async (instance: string): Promise<string> => (await admin.request<Rec>('plugin_instances.get', { public_id: instance })).status;

function pushesOf(client: HubClient, op: string): Rec[] {
  const out: Rec[] = [];
  client.onPush((push: Push) => {
    if (push.op === op) out.push(push.data as Rec);
  });
  return out;
}

/** A device that answers commands the way `answer` says. */
function answering(client: HubClient, answer: (command: Rec) => Rec | null): Rec[] {
  const seen: Rec[] = [];
  client.onPush((push) => {
    if (push.op !== 'command') return;
    const command = push.data as Rec;
    seen.push(command);
    const reply = answer(command);
    if (reply !== null) void client.request('commands.reply', { command_id: command.command_id, ...reply }).catch(() => undefined);
  });
  return seen;
}

describe('presence', () => {
  it('connected while a socket is open (any of several), inactive after the last closes; each change pushed, logged and exact', async () => {
    const d = await device();
    const watcher = await h.connect(h.adminToken);
    const changes = pushesOf(watcher, 'device');
    await watcher.request('subscribe', { topics: ['devices'] });
    expect(await statusOf(d.instance)).toBe('inactive');
    const a = await h.connect(d.token);
    const b = await h.connect(d.token);
    await expect.poll(() => statusOf(d.instance), poll).toBe('connected');
    await a.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(await statusOf(d.instance)).toBe('connected');
    await b.request('auth.me');
    const closedAt = Date.now();
    await b.close();
    await expect.poll(() => statusOf(d.instance), poll).toBe('inactive');
    const record = await admin.request<Rec>('plugin_instances.get', { public_id: d.instance });
    // Exact at disconnect.
    expect(Math.abs(new Date(record.last_seen_at).getTime() - closedAt)).toBeLessThan(1000);
    await expect.poll(() => changes.filter((c) => c.plugin_instance_public_id === d.instance).map((c) => c.status)).toEqual(['connected', 'inactive']);
    expect(changes[0]).toMatchObject({ instance_name: d.name });
    expect(new Date(changes[0]?.at).toISOString()).toBe(changes[0]?.at);
    const { rows } = await h.database.pool.query('SELECT content FROM log_entries WHERE content LIKE $1 ORDER BY id', [`Device "${d.name}"%`]);
    expect(rows.map((r) => r.content)).toEqual([`Device "${d.name}" is connected`, `Device "${d.name}" is inactive`]);
    const deliveries = await h.database.pool.query('SELECT count(*)::int AS n FROM webhook_deliveries');
    expect(deliveries.rows[0].n).toBe(0); // no webhook subscribed: no rows
    await watcher.close();
  });

  it('a hub that starts marks instances a dead hub left connected as inactive (no ghosts)', async () => {
    const d = await device();
    // As a hub killed while it held the device's socket leaves it.
    await h.database.pool.query(`UPDATE plugin_instances SET status = 'connected' WHERE public_id = $1`, [d.instance]);
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { loadConfig } = await import('../../src/config.js');
    const { createLogger } = await import('../../src/log.js');
    const { startHub } = await import('../../src/main.js');
    const dir = await mkdtemp(path.join(tmpdir(), 'hub-ghost-'));
    const second = await startHub(loadConfig({ DATABASE_URL: h.database.url, HUB_PORT: '0', HUB_DATA_DIR: dir, NATS_URL: 'nats://127.0.0.1:4222' }), createLogger('silent'));
    try {
      // With NATS_URL no hub holds a lease of it: the lease sweep (either hub's) records it offline.
      await expect.poll(() => statusOf(d.instance), poll).toBe('inactive');
    } finally {
      await second.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a connection cut without a close frame counts as closed', async () => {
    const d = await device();
    const ws = await rawSocket(h.wsUrl, d.token);
    await expect.poll(() => statusOf(d.instance), poll).toBe('connected');
    // Destroy the TCP connection under the WebSocket: no close frame.
    (ws as unknown as { _socket: net.Socket })._socket.destroy();
    await expect.poll(() => statusOf(d.instance), { timeout: 5000 }).toBe('inactive');
  });

  it('keeps last_seen_at within the flush interval while frames arrive', async () => {
    const d = await device();
    const client = await h.connect(d.token);
    const first = new Date((await admin.request<Rec>('plugin_instances.get', { public_id: d.instance })).last_seen_at ?? 0).getTime();
    await new Promise((r) => setTimeout(r, 1200));
    await client.request('auth.me');
    const framed = Date.now();
    // Written in batches: within 10 s of the frame (the flush is every 5 s).
    await expect
      .poll(async () => new Date((await admin.request<Rec>('plugin_instances.get', { public_id: d.instance })).last_seen_at).getTime(), { timeout: 8000, interval: 250 })
      .toBeGreaterThanOrEqual(framed - 50);
    expect(framed).toBeGreaterThan(first);
    await client.close();
  });

  it('devices announce deliveries to webhooks that want them', async () => {
    const hook = await admin.request<Rec>('webhooks.create', { url: 'https://example.com/devices', events: ['device.online', 'device.offline'] });
    const d = await device();
    const client = await h.connect(d.token);
    await expect.poll(() => statusOf(d.instance), poll).toBe('connected');
    await client.close();
    await expect.poll(() => statusOf(d.instance), poll).toBe('inactive');
    // Only this device's: others may still be closing from earlier tests.
    const { rows } = await h.database.pool.query(
      `SELECT event_type, payload FROM webhook_deliveries WHERE webhook_public_id = $1 AND payload->>'plugin_instance_public_id' = $2 ORDER BY id`,
      [hook.public_id, d.instance],
    );
    expect(rows.map((r) => [r.event_type, r.payload.instance_name])).toEqual([["device.online", d.name], ["device.offline", d.name]]);
    expect(rows[0].payload).toMatchObject({ type: 'device.online', plugin_instance_public_id: d.instance, instance_name: d.name });
    await admin.request('webhooks.delete', { public_id: hook.public_id });
  });
});

describe('disabled instances', () => {
  it('close their device sockets with 1008 and refuse their upgrades with 403; enabling lets them back', async () => {
    const d = await device();
    const client = await h.connect(d.token);
    await admin.request('plugin_instances.update', { public_id: d.instance, enabled: false });
    expect((await client.closed).code).toBe(1008);
    await expect(rawSocket(h.wsUrl, d.token)).rejects.toMatchObject({ statusCode: 403 });
    await admin.request('plugin_instances.update', { public_id: d.instance, enabled: true });
    const again = await h.connect(d.token);
    await expect(again.request('auth.me')).resolves.toMatchObject({ role: 'device' });
    await again.close();
  });

  it('disabled behind the hub’s back (SQL, another hub): the sweep closes the sockets', async () => {
    const d = await device();
    const client = await h.connect(d.token);
    await h.database.pool.query('UPDATE plugin_instances SET enabled = false WHERE public_id = $1', [d.instance]);
    expect((await client.closed).code).toBe(1008);
  });
});

describe('commands', () => {
  it('ok: the device gets the command and its answer is the reply; the command is logged', async () => {
    const d = await device();
    const dev = await h.connect(d.token);
    const seen = answering(dev, (c) => ({ ok: true, result: { echoed: c.payload } }));
    const reply = await admin.request<Rec>('commands.send', { plugin_instance_public_id: d.instance, name: 'set', payload: { level: 3 } });
    expect(reply).toEqual({ command_id: seen[0]?.command_id, result: { echoed: { level: 3 } } });
    expect(seen[0]).toMatchObject({ name: 'set', payload: { level: 3 } });
    const { rows } = await h.database.pool.query('SELECT content FROM log_entries WHERE content LIKE $1', [`Command "set" sent to device "${d.name}"%`]);
    expect(rows).toHaveLength(1);
    await dev.close();
  });

  it('error: 502 device_error with the device’s message', async () => {
    const d = await device();
    const dev = await h.connect(d.token);
    answering(dev, () => ({ ok: false, error: 'valve stuck' }));
    await expect(admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'open' })).rejects.toMatchObject({
      status: 502,
      code: 'device_error',
      message: expect.stringContaining('valve stuck'),
    });
    await dev.close();
  });

  it('timeout: 504 after timeout_ms, and a late answer is 404', async () => {
    const d = await device();
    const dev = await h.connect(d.token);
    const seen = answering(dev, () => null);
    const started = Date.now();
    await expect(admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'slow', timeout_ms: 300 })).rejects.toMatchObject({ status: 504, code: 'timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await expect(dev.request('commands.reply', { command_id: seen[0]?.command_id, ok: true })).rejects.toMatchObject({ status: 404 });
    await dev.close();
  });

  it('offline: 409 at once; unknown instance: 404', async () => {
    const d = await device();
    await expect(admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'x' })).rejects.toMatchObject({ status: 409 });
    await expect(admin.request('commands.send', { plugin_instance_public_id: '00000000-0000-4000-8000-000000000000', name: 'x' })).rejects.toMatchObject({ status: 404 });
  });

  it('an unknown command id, or another instance’s, is 404', async () => {
    const d = await device();
    const other = await device();
    const dev = await h.connect(d.token);
    const otherDev = await h.connect(other.token);
    const seen = answering(dev, () => null);
    const pending = admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'mine', timeout_ms: 2000 }).catch((e: Rec) => e);
    await expect.poll(() => seen.length).toBe(1);
    await expect(otherDev.request('commands.reply', { command_id: seen[0]?.command_id, ok: true })).rejects.toMatchObject({ status: 404 });
    await expect(dev.request('commands.reply', { command_id: 'no-such-command', ok: true })).rejects.toMatchObject({ status: 404 });
    await dev.request('commands.reply', { command_id: seen[0]?.command_id, ok: true, result: 1 });
    await expect(pending).resolves.toMatchObject({ result: 1 });
    await dev.close();
    await otherDev.close();
  });

  it('the device disconnects before answering: the sender gets 409 at once, not a timeout', async () => {
    const d = await device();
    const dev = await h.connect(d.token);
    dev.onPush((push) => {
      if (push.op === 'command') void dev.close();
    });
    const started = Date.now();
    await expect(admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'x', timeout_ms: 20_000 })).rejects.toMatchObject({ status: 409 });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('the sender disconnects before the answer: the command stops waiting and the answer is 404', async () => {
    const d = await device();
    const dev = await h.connect(d.token);
    const seen = answering(dev, () => null);
    const sender = await h.connect(h.adminToken);
    void sender.request('commands.send', { plugin_instance_public_id: d.instance, name: 'x', timeout_ms: 20_000 }).catch(() => undefined);
    await expect.poll(() => seen.length).toBe(1);
    await sender.close();
    await expect.poll(() => dev.request('commands.reply', { command_id: seen[0]?.command_id, ok: true }).then(() => 'found', (e: Rec) => e.status)).toBe(404);
    await dev.close();
  });

  it('the waiting commands of an instance are bounded (429 beyond)', async () => {
    const d = await device();
    const dev = await h.connect(d.token);
    const seen = answering(dev, () => null);
    // Long timeouts: on a loaded machine a short one could end them before the device closes.
    const waiting = Array.from({ length: MAX_PENDING_PER_INSTANCE }, () =>
      admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'w', timeout_ms: 30_000 }).catch((e: Rec) => e),
    );
    // All of them are waiting once the device has been pushed each (not after a fixed sleep).
    await expect.poll(() => seen.length, { timeout: 20_000 }).toBe(MAX_PENDING_PER_INSTANCE);
    await expect(admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'one-too-many' })).rejects.toMatchObject({ status: 429 });
    await dev.close();
    // Closing the device fails them all at once.
    for (const outcome of await Promise.all(waiting)) expect(outcome).toMatchObject({ status: 409 });
  });

  it('bad input: names, timeouts and payloads are checked (422)', async () => {
    const d = await device();
    for (const data of [{ name: '' }, { name: 'x'.repeat(65) }, { name: 'a', timeout_ms: 0 }, { name: 'a', timeout_ms: 60_001 }]) {
      await expect(admin.request('commands.send', { plugin_instance_public_id: d.instance, ...data })).rejects.toMatchObject({ status: 422 });
    }
  });
});
