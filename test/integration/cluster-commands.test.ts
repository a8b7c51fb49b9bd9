/**
 * Commands across hubs (PROTOCOL.md §13, §15): `commands.send` at hub A for a device whose
 * socket is on hub B reaches it over NATS request/reply, with every outcome of §13: the answer,
 * `502 device_error`, `504 timeout` (a late answer is 404), `409` at once when the device
 * disconnects before answering or has no socket on any hub; a sender gone before the answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { startFirstHub, startPeerHub, type PeerHub } from '../support/cluster.js';
import type { TestHub } from '../support/hub.js';
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
  const name = `cmd-dev-${++counter}`;
  const instance = (await admin.request<Rec>('plugin_instances.create', { plugin_id: 'p', instance_name: name })).public_id as string;
  const { token } = await admin.request<Rec>('api_tokens.create', { name, plugin_instance_public_id: instance });
  return { instance, name, token };
}

/** A device at hub B; resolves once its hub answers for it (its first command subscription is in place). */
async function deviceAtB(): Promise<{ d: Awaited<ReturnType<typeof device>>; dev: HubClient }> {
  const d = await device();
  const dev = await b.connect(d.token);
  await dev.request('auth.me');
  return { d, dev };
}

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

describe('commands across hubs', () => {
  it('ok: a command sent at A reaches the device at B once, and its answer comes back; logged once', async () => {
    const { d, dev } = await deviceAtB();
    const seen = answering(dev, (c) => ({ ok: true, result: { echoed: c.payload } }));
    const reply = await admin.request<Rec>('commands.send', { plugin_instance_public_id: d.instance, name: 'set', payload: { level: 7 } });
    expect(reply).toEqual({ command_id: seen[0]?.command_id, result: { echoed: { level: 7 } } });
    expect(seen).toHaveLength(1);
    const { rows } = await a.database.pool.query('SELECT content FROM log_entries WHERE content LIKE $1', [`Command "set" sent to device "${d.name}"%`]);
    expect(rows).toHaveLength(1);
    await dev.close();
  });

  it('a device with sockets at A and B, commands sent at a third hub: each pushed once (queue group)', async () => {
    const c = await startPeerHub(a, nats.url);
    try {
      const d = await device();
      const atA = await a.connect(d.token);
      const atB = await b.connect(d.token);
      await atA.request('auth.me');
      await atB.request('auth.me');
      const seenA = answering(atA, () => ({ ok: true, result: 'a' }));
      const seenB = answering(atB, () => ({ ok: true, result: 'b' }));
      const viaC = await c.connect(a.adminToken);
      for (let i = 0; i < 10; i++) await viaC.request('commands.send', { plugin_instance_public_id: d.instance, name: 'n' });
      await new Promise((r) => setTimeout(r, 200));
      expect(seenA.length + seenB.length).toBe(10);
      await viaC.close();
      await atA.close();
      await atB.close();
    } finally {
      await c.stop();
    }
  }, 30_000);

  it('error: 502 device_error with the device’s message', async () => {
    const { d, dev } = await deviceAtB();
    answering(dev, () => ({ ok: false, error: 'valve stuck' }));
    await expect(admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'open' })).rejects.toMatchObject({
      status: 502,
      code: 'device_error',
      message: expect.stringContaining('valve stuck'),
    });
    await dev.close();
  });

  it('timeout: 504 after timeout_ms (not the NATS slack), and a late answer is 404', async () => {
    const { d, dev } = await deviceAtB();
    const seen = answering(dev, () => null);
    const started = Date.now();
    await expect(admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'slow', timeout_ms: 400 })).rejects.toMatchObject({ status: 504, code: 'timeout' });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(390);
    expect(took).toBeLessThan(1500);
    await expect(dev.request('commands.reply', { command_id: seen[0]?.command_id, ok: true })).rejects.toMatchObject({ status: 404 });
    await dev.close();
  });

  it('the device at B disconnects before answering: 409 at A at once, not a timeout', async () => {
    const { d, dev } = await deviceAtB();
    dev.onPush((push) => {
      if (push.op === 'command') void dev.close();
    });
    const started = Date.now();
    await expect(admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'x', timeout_ms: 20_000 })).rejects.toMatchObject({ status: 409 });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('the sender at A disconnects before the answer: B stops waiting, the answer is 404', async () => {
    const { d, dev } = await deviceAtB();
    const seen = answering(dev, () => null);
    const sender = await a.connect(a.adminToken);
    void sender.request('commands.send', { plugin_instance_public_id: d.instance, name: 'x', timeout_ms: 20_000 }).catch(() => undefined);
    await expect.poll(() => seen.length).toBe(1);
    await sender.close();
    await expect.poll(() => dev.request('commands.reply', { command_id: seen[0]?.command_id, ok: true }).then(() => 'found', (e: Rec) => e.status)).toBe(404);
    await dev.close();
  });

  it('no socket on any hub: 409 at once', async () => {
    const { d, dev } = await deviceAtB();
    await dev.close();
    // B's subscription goes with its last link: no responders.
    await expect
      .poll(async () => admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'x', timeout_ms: 20_000 }).then(() => 0, (e: Rec) => e.status as number), { timeout: 3000 })
      .toBe(409);
    const started = Date.now();
    await expect(admin.request('commands.send', { plugin_instance_public_id: d.instance, name: 'x', timeout_ms: 20_000 })).rejects.toMatchObject({ status: 409 });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
