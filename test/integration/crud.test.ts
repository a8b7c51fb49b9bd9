/** CRUD over the socket for every resource: field names, secrets, ownership, state rules. @see PROTOCOL.md §5, §10 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
let h: TestHub;
let admin: HubClient;

beforeAll(async () => {
  h = await startTestHub();
  admin = await h.connect(h.adminToken);
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function expectRecord(record: Rec): void {
  expect(record.public_id).toMatch(UUID);
  expect(record.created_on).toMatch(ISO);
  expect(record).not.toHaveProperty('id');
}

describe('every resource', () => {
  it('events: create, get, list with filter, update, delete', async () => {
    const ev = await admin.request<Rec>('events.create', { name: 'crud-temp', unit: 'C', min_value: -40, max_value: 120, event_type: 'sensor' });
    expectRecord(ev);
    expect(ev).toMatchObject({ name: 'crud-temp', unit: 'C', min_value: -40, max_value: 120, event_type: 'sensor' });
    expect(await admin.request('events.get', { public_id: ev.public_id })).toEqual(ev);
    const list = await admin.request<Rec>('events.list', { filter: { name: 'crud-temp' } });
    expect(list).toMatchObject({ total: 1, page: 1, page_size: 25, pages: 1, items: [ev] });
    expect(await admin.request<Rec>('events.update', { public_id: ev.public_id, unit: 'K' })).toMatchObject({ unit: 'K', name: 'crud-temp' });
    expect(await admin.request('events.delete', { public_id: ev.public_id })).toEqual({ status: 'success', message: 'Event deleted' });
    await expect(admin.request('events.get', { public_id: ev.public_id })).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
      message: `Event '${ev.public_id}' not found`,
    });
  });

  it('events: min_value above max_value is 422, a duplicate name 409', async () => {
    await expect(admin.request('events.create', { name: 'bad-range', min_value: 5, max_value: 1 })).rejects.toMatchObject({ code: 'invalid' });
    await admin.request('events.create', { name: 'dup-name' });
    await expect(admin.request('events.create', { name: 'dup-name' })).rejects.toMatchObject({ status: 409, code: 'conflict' });
  });

  it('users: the password is write-only, hashes never leave, usernames are unique', async () => {
    const user = await admin.request<Rec>('users.create', { username: 'crud-user', password: 'secret-password', email: 'u@example.com', role: 'viewer' });
    expectRecord(user);
    expect(user).toMatchObject({ username: 'crud-user', email: 'u@example.com', role: 'viewer' });
    expect(JSON.stringify(user)).not.toMatch(/password(?!_login)|argon2/);
    const listed = await admin.request<Rec>('users.list', { filter: { username: 'crud-user' } });
    expect(JSON.stringify(listed)).not.toMatch(/password(?!_login)|argon2/);
    await expect(admin.request('users.create', { username: 'crud-user', password: 'another-password' })).rejects.toMatchObject({ code: 'conflict' });
    await expect(admin.request('users.create', { username: 'x', password: 'short' })).rejects.toMatchObject({ code: 'invalid' });
    // The new password works for login.
    await admin.request('users.update', { public_id: user.public_id, password: 'changed-password' });
    await expect(h.login('crud-user', 'changed-password')).resolves.toBeTypeOf('string');
  });

  it('experiments: one runs at a time, stop returns the record, stopping twice is 409', async () => {
    const first = await admin.request<Rec>('experiments.create', { name: 'exp-1' });
    expect(first.started_on).toMatch(ISO);
    expect(first.stopped_on).toBeNull();
    await expect(admin.request('experiments.create', { name: 'exp-2' })).rejects.toMatchObject({ status: 409, code: 'conflict' });
    const stopped = await admin.request<Rec>('experiments.stop', { public_id: first.public_id });
    expect(stopped.stopped_on).toMatch(ISO);
    await expect(admin.request('experiments.stop', { public_id: first.public_id })).rejects.toMatchObject({ code: 'conflict' });
    const second = await admin.request<Rec>('experiments.create', { name: 'exp-2' });
    // Deleting a running experiment is allowed.
    await expect(admin.request('experiments.delete', { public_id: second.public_id })).resolves.toMatchObject({ status: 'success' });
  });

  it('rules: between needs threshold_high, and a webhook action gets its event type', async () => {
    const ev = await admin.request<Rec>('events.create', { name: 'rule-ev' });
    await expect(
      admin.request('rules.create', { name: 'r1', event_public_id: ev.public_id, operator: 'between', threshold: 5 }),
    ).rejects.toMatchObject({ code: 'invalid', details: [{ path: '/threshold_high' }] });
    const rule = await admin.request<Rec>('rules.create', {
      name: 'r1',
      event_public_id: ev.public_id,
      operator: 'between',
      threshold: 5,
      threshold_high: 10,
      action_type: 'webhook',
    });
    expect(rule).toMatchObject({ webhook_event_type: 'sensor.threshold_exceeded', cooldown_seconds: 60, enabled: true, last_triggered_at: null });
    await expect(
      admin.request('rules.create', { name: 'r2', event_public_id: randomUUID(), operator: 'gt', threshold: 1 }),
    ).rejects.toMatchObject({ code: 'not_found', message: expect.stringMatching(/^Event '.*' not found$/) });
  });

  it('webhooks: the secret is write-only (has_secret), URLs must be http(s), events a non-empty known list', async () => {
    const hook = await admin.request<Rec>('webhooks.create', { url: 'https://example.com/hook', secret: 's3cret', events: ['sensor.reading'] });
    expect(hook).toMatchObject({ has_secret: true, enabled: true, events: ['sensor.reading'] });
    expect(hook).not.toHaveProperty('secret');
    await expect(admin.request('webhooks.create', { url: 'ftp://x', events: ['sensor.reading'] })).rejects.toMatchObject({ code: 'invalid' });
    await expect(admin.request('webhooks.create', { url: 'http://x', events: [] })).rejects.toMatchObject({ code: 'invalid' });
    await expect(admin.request('webhooks.create', { url: 'http://x', events: ['nope'] })).rejects.toMatchObject({ code: 'invalid' });
    expect((await admin.request<Rec>('webhook_deliveries.list', {})).total).toBe(0);
  });

  it('firmware: X.Y.Z versions, unique; apply needs a file; check finds nothing rolled out', async () => {
    const fw = await admin.request<Rec>('firmware_updates.create', { version: '1.2.3', release_notes: 'fixes' });
    expect(fw).toMatchObject({ status: 'pending', has_file: false, file_hash_sha256: null, file_size_bytes: null });
    await expect(admin.request('firmware_updates.create', { version: '1.2' })).rejects.toMatchObject({ code: 'invalid' });
    await expect(admin.request('firmware_updates.create', { version: '1.2.3' })).rejects.toMatchObject({ code: 'conflict' });
    await expect(admin.request('firmware_updates.apply', { public_id: fw.public_id })).rejects.toMatchObject({ code: 'conflict' });
    await expect(admin.request('firmware_updates.rollback', { public_id: fw.public_id })).rejects.toMatchObject({ code: 'conflict' });
    // Status is read-only: ignored on update.
    expect(await admin.request<Rec>('firmware_updates.update', { public_id: fw.public_id, status: 'completed' })).toMatchObject({ status: 'pending' });
    expect(await admin.request('firmware_updates.check')).toBeNull();
  });

  it('plugin packages, instances and channel mappings', async () => {
    const pkg = await admin.request<Rec>('plugin_packages.create', { package_name: 'sim-driver', version: '0.1.0' });
    expect(pkg).toMatchObject({ source: 'uploaded', has_file: false });
    const inst = await admin.request<Rec>('plugin_instances.create', { plugin_id: 'sim', instance_name: 'bench-1', config: { rate: 10 } });
    expect(inst).toMatchObject({ status: 'inactive', enabled: true, demo_mode: false, config: { rate: 10 } });
    const demo = await admin.request<Rec>('plugin_instances.create', { plugin_id: 'sim', instance_name: 'demo-1', demo_mode: true });
    expect(demo.status).toBe('demo');
    const ev = await admin.request<Rec>('events.create', { name: 'mapped-ev' });
    const map = await admin.request<Rec>('channel_mappings.create', {
      plugin_instance_public_id: inst.public_id,
      channel_id: 'ch0',
      channel_name: 'Channel 0',
      direction: 'input',
      event_public_id: ev.public_id,
    });
    expect(map).toMatchObject({ plugin_instance_public_id: inst.public_id, channel_id: 'ch0', event_public_id: ev.public_id });
    await expect(
      admin.request('channel_mappings.create', { plugin_instance_public_id: inst.public_id, channel_id: 'ch0' }),
    ).rejects.toMatchObject({ code: 'conflict' });
    // ON DELETE SET NULL, enforced by the database.
    await admin.request('events.delete', { public_id: ev.public_id });
    expect(await admin.request<Rec>('channel_mappings.get', { public_id: map.public_id })).toMatchObject({ event_public_id: null });
  });

  it('dashboards and widgets, with the widget size bounds', async () => {
    const board = await admin.request<Rec>('dashboards.create', { name: 'main', is_global: true });
    const widget = await admin.request<Rec>('dashboard_widgets.create', {
      dashboard_public_id: board.public_id,
      widget_type: 'line_chart',
      title: 'Temp',
      x: 0,
      y: 0,
      w: 6,
      h: 4,
      config: { color: 'red' },
    });
    expect(widget).toMatchObject({ dashboard_public_id: board.public_id, w: 6, h: 4, config: { color: 'red' }, event_public_id: null });
    await expect(admin.request('dashboard_widgets.update', { public_id: widget.public_id, w: 13 })).rejects.toMatchObject({ code: 'invalid' });
    await admin.request('dashboards.delete', { public_id: board.public_id });
    await expect(admin.request('dashboard_widgets.get', { public_id: widget.public_id })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('log entries record their author', async () => {
    const entry = await admin.request<Rec>('log_entries.create', { content: 'started', logging_type: 'info' });
    const me = await admin.request<Rec>('auth.me');
    expect(entry).toMatchObject({ content: 'started', logging_type: 'info', status_type: 'unread', user_public_id: me.user.public_id });
  });

  it('api tokens: the secret appears once, only in the create reply', async () => {
    const created = await admin.request<Rec>('api_tokens.create', { name: 'script' });
    expect(created.token).toMatch(/^hub_/);
    expect(created).toMatchObject({ name: 'script', plugin_instance_public_id: null, expires_at: null, last_used_at: null });
    expect(created).not.toHaveProperty('token_hash');
    const got = await admin.request<Rec>('api_tokens.get', { public_id: created.public_id });
    expect(got).not.toHaveProperty('token');
    const script = await h.connect(created.token);
    expect(await script.request<Rec>('auth.me')).toMatchObject({ role: 'admin' });
    await script.close();
    await expect
      .poll(async () => (await admin.request<Rec>('api_tokens.get', { public_id: created.public_id })).last_used_at)
      .toMatch(ISO);
    await expect(admin.request('api_tokens.create', { name: 'old', expires_at: '2001-01-01T00:00:00Z' })).rejects.toMatchObject({
      code: 'invalid',
      details: [{ path: '/expires_at' }],
    });
  });
});

describe('ownership', () => {
  it('a viewer sees only itself among users and cannot change its role', async () => {
    const viewer = await h.userWithRole('viewer');
    const client = await h.connect(viewer.token);
    const list = await client.request<Rec>('users.list', {});
    expect(list.items.map((u: Rec) => u.public_id)).toEqual([viewer.user.public_id]);
    const adminMe = await admin.request<Rec>('auth.me');
    await expect(client.request('users.get', { public_id: adminMe.user.public_id })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(client.request('users.update', { public_id: viewer.user.public_id, role: 'admin' })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(client.request<Rec>('users.update', { public_id: viewer.user.public_id, email: 'me@example.com' })).resolves.toMatchObject({
      email: 'me@example.com',
    });
    await client.close();
  });

  it('the last admin can be neither demoted nor deleted', async () => {
    const me = await admin.request<Rec>('auth.me');
    await expect(admin.request('users.update', { public_id: me.user.public_id, role: 'viewer' })).rejects.toMatchObject({ code: 'conflict' });
    await expect(admin.request('users.delete', { public_id: me.user.public_id })).rejects.toMatchObject({ code: 'conflict' });
  });

  it('operators edit their own dashboards and widgets; viewers see their own and global ones', async () => {
    const op1 = await h.connect((await h.userWithRole('operator')).token);
    const op2 = await h.connect((await h.userWithRole('operator')).token);
    const viewer = await h.connect((await h.userWithRole('viewer')).token);
    const own = await op1.request<Rec>('dashboards.create', { name: 'op1-private' });
    const global = await admin.request<Rec>('dashboards.create', { name: 'everyone', is_global: true });
    const widget = await op1.request<Rec>('dashboard_widgets.create', { dashboard_public_id: own.public_id, widget_type: 'gauge' });

    await expect(op2.request('dashboards.update', { public_id: own.public_id, name: 'mine now' })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(op2.request('dashboards.get', { public_id: own.public_id })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(op2.request('dashboard_widgets.create', { dashboard_public_id: own.public_id, widget_type: 'gauge' })).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(op2.request('dashboard_widgets.delete', { public_id: widget.public_id })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(op2.request('dashboard_widgets.create', { dashboard_public_id: global.public_id, widget_type: 'gauge' })).rejects.toMatchObject({
      code: 'forbidden',
    });

    const seen = await viewer.request<Rec>('dashboards.list', { page_size: 500 });
    const names = seen.items.map((d: Rec) => d.name);
    expect(names).toContain('everyone');
    expect(names).not.toContain('op1-private');
    expect((await op2.request<Rec>('dashboard_widgets.list', {})).items.map((w: Rec) => w.public_id)).not.toContain(widget.public_id);
    expect((await op1.request<Rec>('dashboard_widgets.list', {})).items.map((w: Rec) => w.public_id)).toContain(widget.public_id);
    expect(await op1.request<Rec>('dashboards.update', { public_id: own.public_id, name: 'renamed' })).toMatchObject({ name: 'renamed' });
    for (const c of [op1, op2, viewer]) await c.close();
  });

  it('a device gets only its own instance and lists only its own channel mappings', async () => {
    const mine = await admin.request<Rec>('plugin_instances.create', { plugin_id: 'sim', instance_name: 'dev-own' });
    const other = await admin.request<Rec>('plugin_instances.create', { plugin_id: 'sim', instance_name: 'dev-other' });
    await admin.request('channel_mappings.create', { plugin_instance_public_id: mine.public_id, channel_id: 'a' });
    await admin.request('channel_mappings.create', { plugin_instance_public_id: other.public_id, channel_id: 'b' });
    const token = await admin.request<Rec>('api_tokens.create', { name: 'dev', plugin_instance_public_id: mine.public_id });
    const device = await h.connect(token.token);
    expect(await device.request<Rec>('auth.me')).toMatchObject({ role: 'device', plugin_instance_public_id: mine.public_id });
    expect(await device.request<Rec>('plugin_instances.get', { public_id: mine.public_id })).toMatchObject({ instance_name: 'dev-own' });
    await expect(device.request('plugin_instances.get', { public_id: other.public_id })).rejects.toMatchObject({ code: 'forbidden' });
    const maps = await device.request<Rec>('channel_mappings.list', {});
    expect(maps.items.map((m: Rec) => m.channel_id)).toEqual(['a']);
    // Its socket marks the instance connected; closing it puts it back.
    await expect.poll(async () => (await admin.request<Rec>('plugin_instances.get', { public_id: mine.public_id })).status).toBe('connected');
    await device.close();
    await expect.poll(async () => (await admin.request<Rec>('plugin_instances.get', { public_id: mine.public_id })).status).toBe('inactive');
  });

  it('a viewer lists only its own api tokens', async () => {
    const viewer = await h.userWithRole('viewer');
    const client = await h.connect(viewer.token);
    await admin.request('api_tokens.create', { name: 'admins-own' });
    expect((await client.request<Rec>('api_tokens.list', {})).total).toBe(0);
    await client.close();
  });
});
