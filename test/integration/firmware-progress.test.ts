/**
 * Firmware roll-out progress (PROTOCOL.md §13): `firmware_updates.report` through every step, the
 * instance's fields, the update's own `completed`, the counts on update records, the `firmware`
 * topic push, the log entry and the `firmware.status_changed` deliveries — and every refusal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
let h: TestHub;
let admin: HubClient;
let watcher: HubClient;
const pushes: Rec[] = [];
let webhook: string;

beforeAll(async () => {
  h = await startTestHub({ HUB_WEBHOOK_ALLOW_PRIVATE: '1' });
  admin = await h.connect(h.adminToken);
  watcher = await h.connect((await h.userWithRole('viewer')).token);
  watcher.onPush((push) => {
    if (push.op === 'firmware') pushes.push(push.data as Rec);
  });
  expect(await watcher.request('subscribe', { topics: ['firmware'] })).toMatchObject({ topics: ['firmware'] });
  // Port 9 (discard): deliveries are queued; whether they are sent is webhooks' tests' business.
  webhook = (await admin.request<Rec>('webhooks.create', { url: 'http://127.0.0.1:9/hook', events: ['firmware.status_changed'] })).public_id;
});
afterAll(async () => {
  await watcher?.close();
  await admin?.close();
  await h?.stop();
});

let counter = 0;
async function device(): Promise<{ client: HubClient; instance: string; name: string }> {
  const name = `fw-device-${++counter}`;
  const instance = (await admin.request<Rec>('plugin_instances.create', { plugin_id: 'fw', instance_name: name })).public_id;
  const { token } = await admin.request<Rec>('api_tokens.create', { name, plugin_instance_public_id: instance });
  return { client: await h.connect(token), instance, name };
}

/** An update with a file, in roll-out (`applying`) unless `apply` is false. */
async function update(version: string, apply = true): Promise<string> {
  const fw = (await admin.request<Rec>('firmware_updates.create', { version })).public_id;
  const res = await fetch(`${h.baseUrl}/api/firmware_updates/${fw}/file`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${h.adminToken}` },
    body: new Uint8Array([1, 2, 3]),
  });
  expect(res.status).toBe(200);
  if (apply) await admin.request('firmware_updates.apply', { public_id: fw });
  return fw;
}

const sql = async (text: string, params: unknown[] = []): Promise<Rec[]> => (await h.database.pool.query(text, params)).rows;
const logs = (name: string) => sql(`SELECT content, logging_type FROM log_entries WHERE content LIKE $1 ORDER BY id`, [`Device "${name}" firmware%`]);
const deliveries = (instance: string) =>
  sql(`SELECT payload FROM webhook_deliveries WHERE event_type = 'firmware.status_changed' AND payload->>'plugin_instance_public_id' = $1 ORDER BY id`, [instance]);

describe('firmware_updates.report', () => {
  it('walks a device through every step: its fields, the update’s completed, the push, the log and the deliveries', async () => {
    const fw = await update('2.0.0');
    const d = await device();
    pushes.length = 0;
    const steps = ['downloading', 'verifying', 'applying', 'completed'] as const;
    for (const status of steps) {
      const record = await d.client.request<Rec>('firmware_updates.report', { public_id: fw, status });
      expect(record).toMatchObject({ public_id: d.instance, firmware_update_public_id: fw, firmware_status: status });
      expect(record.firmware_version).toBe(status === 'completed' ? '2.0.0' : null);
      expect(record.id).toBeUndefined();
      const expected = { firmware_update_public_id: fw, version: '2.0.0', plugin_instance_public_id: d.instance, status };
      await expect.poll(() => pushes.at(-1), { timeout: 5000 }).toEqual(expected);
    }
    expect(pushes).toHaveLength(4);
    // The first completed report completed the roll-out itself.
    expect(await admin.request<Rec>('firmware_updates.get', { public_id: fw })).toMatchObject({ status: 'completed', devices_completed: 1, devices_in_progress: 0, devices_failed: 0 });
    expect(await admin.request<Rec>('plugin_instances.get', { public_id: d.instance })).toMatchObject({ firmware_version: '2.0.0', firmware_status: 'completed' });
    expect((await logs(d.name)).map((l) => [l.content, l.logging_type])).toEqual(steps.map((s) => [`Device "${d.name}" firmware 2.0.0: ${s}`, 'info']));
    const bodies = (await deliveries(d.instance)).map((r) => r.payload);
    expect(bodies.map((b) => b.status)).toEqual([...steps]);
    expect(bodies[0]).toEqual({ type: 'firmware.status_changed', time: expect.any(String), firmware_update_public_id: fw, version: '2.0.0', plugin_instance_public_id: d.instance, status: 'downloading' });
    await d.client.close();
  });

  it('carries a failure’s error to the push and the log, and a failed device may start again', async () => {
    const fw = await update('2.1.0');
    const d = await device();
    pushes.length = 0;
    await d.client.request('firmware_updates.report', { public_id: fw, status: 'downloading' });
    const failed = await d.client.request<Rec>('firmware_updates.report', { public_id: fw, status: 'failed', error: 'checksum\nmismatch' });
    expect(failed).toMatchObject({ firmware_status: 'failed', firmware_version: null });
    await expect.poll(() => pushes.at(-1), { timeout: 5000 }).toMatchObject({ status: 'failed', error: 'checksum\nmismatch' });
    expect((await logs(d.name)).at(-1)?.content).toBe(`Device "${d.name}" firmware 2.1.0: failed: checksum mismatch`);
    expect(await d.client.request<Rec>('firmware_updates.report', { public_id: fw, status: 'downloading' })).toMatchObject({ firmware_status: 'downloading' });
    // A failure does not complete (nor fail) the roll-out.
    expect(await admin.request<Rec>('firmware_updates.get', { public_id: fw })).toMatchObject({ status: 'applying' });
    await d.client.close();
  });

  it('counts the devices at each stage on get and list, computed by the database', async () => {
    const fw = await update('3.0.0');
    const [a, b, c, e] = [await device(), await device(), await device(), await device()];
    const walk = async (d: { client: HubClient }, steps: string[]) => {
      for (const status of steps) await d.client.request('firmware_updates.report', { public_id: fw, status });
    };
    await walk(a, ['downloading']);
    await walk(b, ['downloading', 'verifying', 'applying']);
    await walk(c, ['downloading', 'failed']);
    await walk(e, ['downloading', 'verifying', 'applying', 'completed']);
    const counts = { devices_in_progress: 2, devices_completed: 1, devices_failed: 1 };
    expect(await admin.request<Rec>('firmware_updates.get', { public_id: fw })).toMatchObject(counts);
    const listed = await admin.request<Rec>('firmware_updates.list', { filter: { version: '3.0.0' } });
    expect(listed.items).toEqual([expect.objectContaining({ public_id: fw, ...counts })]);
    // An update nobody reported on counts zeros; a device deleted stops counting.
    expect(await admin.request<Rec>('firmware_updates.get', { public_id: await update('3.0.1', false) })).toMatchObject({
      devices_in_progress: 0,
      devices_completed: 0,
      devices_failed: 0,
    });
    await admin.request('plugin_instances.delete', { public_id: c.instance });
    expect(await admin.request<Rec>('firmware_updates.get', { public_id: fw })).toMatchObject({ devices_failed: 0 });
    // Counts are read-only: sent back on update, they are ignored.
    expect(await admin.request<Rec>('firmware_updates.update', { public_id: fw, release_notes: 'x', devices_completed: 99 })).toMatchObject({ devices_completed: 1 });
    for (const d of [a, b, c, e]) await d.client.close();
  });

  it('refuses a report on an update that is not being rolled out (409) or does not exist (404), changing nothing', async () => {
    const pending = await update('4.0.0', false);
    const withdrawn = await update('4.0.1');
    await admin.request('firmware_updates.rollback', { public_id: withdrawn });
    const d = await device();
    pushes.length = 0;
    for (const fw of [pending, withdrawn]) {
      await expect(d.client.request('firmware_updates.report', { public_id: fw, status: 'downloading' })).rejects.toMatchObject({ status: 409, code: 'conflict' });
    }
    await expect(
      d.client.request('firmware_updates.report', { public_id: '00000000-0000-4000-8000-000000000000', status: 'downloading' }),
    ).rejects.toMatchObject({ status: 404, message: "FirmwareUpdate '00000000-0000-4000-8000-000000000000' not found" });
    await expect(d.client.request('firmware_updates.report', { public_id: pending, status: 'rolled_back' })).rejects.toMatchObject({ status: 422 });
    expect(await admin.request<Rec>('plugin_instances.get', { public_id: d.instance })).toMatchObject({ firmware_status: null, firmware_update_public_id: null });
    expect(await logs(d.name)).toEqual([]);
    expect(await deliveries(d.instance)).toEqual([]);
    await new Promise((r) => setTimeout(r, 200));
    expect(pushes).toEqual([]);
    await d.client.close();
  });

  // Every (current step, report) pair over the socket, the device's state set in the database.
  const FROM = [null, 'downloading', 'verifying', 'applying', 'completed', 'failed'] as const;
  const TO = ['downloading', 'verifying', 'applying', 'completed', 'failed'] as const;
  const ALLOWED: Record<string, string[]> = {
    none: ['downloading'],
    downloading: ['verifying', 'failed'],
    verifying: ['applying', 'failed'],
    applying: ['completed', 'failed'],
    completed: ['downloading'],
    failed: ['downloading'],
  };
  it('allows exactly the steps of the protocol and refuses every other with 409, leaving the device as it was', async () => {
    const fw = await update('5.0.0');
    const d = await device();
    const outcomes: string[] = [];
    for (const from of FROM) {
      for (const to of TO) {
        await sql('UPDATE plugin_instances SET firmware_update_public_id = $2, firmware_status = $3 WHERE public_id = $1', [
          d.instance,
          from === null ? null : fw,
          from,
        ]);
        const outcome = await d.client.request<Rec>('firmware_updates.report', { public_id: fw, status: to }).then(
          (r) => (r.firmware_status === to ? 'ok' : 'wrong'),
          (e: Rec) => (e.status === 409 ? 'conflict' : e.code),
        );
        outcomes.push(`${from ?? 'none'}→${to}:${outcome}`);
        if (outcome !== 'ok') expect((await sql('SELECT firmware_status FROM plugin_instances WHERE public_id = $1', [d.instance]))[0]?.firmware_status).toBe(from);
      }
    }
    expect(outcomes).toEqual(FROM.flatMap((from) => TO.map((to) => `${from ?? 'none'}→${to}:${ALLOWED[from ?? 'none']?.includes(to) ? 'ok' : 'conflict'}`)));
    await d.client.close();
  });

  it('refuses a report on another update while the device is in the middle of one, until it reports failed there', async () => {
    const first = await update('6.0.0');
    const second = await update('6.1.0');
    const d = await device();
    await d.client.request('firmware_updates.report', { public_id: first, status: 'downloading' });
    await expect(d.client.request('firmware_updates.report', { public_id: second, status: 'downloading' })).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/another update/) });
    await d.client.request('firmware_updates.report', { public_id: first, status: 'failed' });
    expect(await d.client.request<Rec>('firmware_updates.report', { public_id: second, status: 'downloading' })).toMatchObject({ firmware_update_public_id: second });
    // An update withdrawn while a device installs it does not hold the device back.
    await admin.request('firmware_updates.rollback', { public_id: second });
    const third = await update('6.2.0');
    expect(await d.client.request<Rec>('firmware_updates.report', { public_id: third, status: 'downloading' })).toMatchObject({ firmware_update_public_id: third });
    await d.client.close();
  });

  it('serializes concurrent reports of one device: of two identical steps, exactly one is taken', async () => {
    const fw = await update('7.0.0');
    const d = await device();
    await d.client.request('firmware_updates.report', { public_id: fw, status: 'downloading' });
    const second = await h.connect(((await admin.request<Rec>('api_tokens.create', { name: 'second', plugin_instance_public_id: d.instance })) as Rec).token);
    const outcomes = await Promise.all(
      [d.client, second, d.client, second].map((c) =>
        c.request('firmware_updates.report', { public_id: fw, status: 'verifying' }).then(
          () => 'ok',
          (e: Rec) => e.code,
        ),
      ),
    );
    expect(outcomes.sort()).toEqual(['conflict', 'conflict', 'conflict', 'ok']);
    expect((await logs(d.name)).map((l) => l.content.split(': ')[1])).toEqual(['downloading', 'verifying']);
    await second.close();
    await d.client.close();
  });

  it('keeps apply, rollback and check consistent: a completed roll-out is still offered by check and can be rolled back', async () => {
    const fw = await update('8.0.0');
    const d = await device();
    for (const status of ['downloading', 'verifying', 'applying', 'completed']) await d.client.request('firmware_updates.report', { public_id: fw, status });
    expect(await d.client.request<Rec>('firmware_updates.check')).toMatchObject({ public_id: fw, status: 'completed', devices_completed: 1 });
    expect(await admin.request<Rec>('firmware_updates.rollback', { public_id: fw })).toMatchObject({ status: 'rolled_back', devices_completed: 1 });
    await expect(d.client.request('firmware_updates.report', { public_id: fw, status: 'downloading' })).rejects.toMatchObject({ status: 409 });
    await d.client.close();
  });
});
