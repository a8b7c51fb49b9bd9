/**
 * Rules fire: every operator, cooldowns, a trigger inside a large batch, its log entry, alert
 * and deliveries committed with the point; topics and the hub's own log.
 * @see PROTOCOL.md §11, §12, §14
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient, Push } from '../../src/client/hub-client.js';
import { rawSocket, startTestHub, type TestHub } from '../support/hub.js';

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

let counter = 0;
async function event(name = `ev-${++counter}`): Promise<string> {
  return (await admin.request<Rec>('events.create', { name })).public_id as string;
}

async function rule(eventId: string, fields: Rec): Promise<Rec> {
  return admin.request<Rec>('rules.create', { name: `rule-${++counter}`, event_public_id: eventId, cooldown_seconds: 0, ...fields });
}

/** Log entries whose content mentions `text`. */
async function logsMentioning(text: string): Promise<Rec[]> {
  const { rows } = await h.database.pool.query('SELECT content, logging_type, status_type FROM log_entries WHERE content LIKE $1 ORDER BY id', [`%${text}%`]);
  return rows;
}

function pushesOf(client: HubClient, op: string): Rec[] {
  const out: Rec[] = [];
  client.onPush((push: Push) => {
    if (push.op === op) out.push(push.data as Rec);
  });
  return out;
}

describe('every operator, on both sides of its threshold', () => {
  it.each([
    ['gt', { threshold: 10 }, [10.5, 11], [10, 9]],
    ['lt', { threshold: 10 }, [9.5, -1], [10, 11]],
    ['gte', { threshold: 10 }, [10, 12], [9.999]],
    ['lte', { threshold: 10 }, [10, 3], [10.001]],
    ['eq', { threshold: 10 }, [10, 10 + 5e-10], [10.001, 9.99]],
    ['between', { threshold: 10, threshold_high: 20 }, [10, 15, 20], [9.9, 20.1]],
    ['not_between', { threshold: 10, threshold_high: 20 }, [9.9, 20.1], [10, 15, 20]],
  ])('%s', async (operator, thresholds, yes, no) => {
    const ev = await event();
    const r = await rule(ev, { operator, ...thresholds });
    await admin.request('ingest', { points: [...yes, ...no].map((value) => ({ event: ev, value })) });
    const logs = await logsMentioning(`Rule "${r.name}"`);
    expect(logs.map((l) => l.content.match(/= (\S+) \(/)?.[1]).map(Number)).toEqual(yes);
    expect(logs.every((l) => l.logging_type === 'warning' && l.status_type === 'unread')).toBe(true);
    const after = await admin.request<Rec>('rules.get', { public_id: r.public_id });
    expect(after.last_triggered_at).toBeTypeOf('string');
  });

  it('between/not_between need threshold_high ≥ threshold (422)', async () => {
    const ev = await event();
    for (const data of [{ operator: 'between', threshold: 5 }, { operator: 'not_between', threshold: 5, threshold_high: 4 }]) {
      await expect(rule(ev, data)).rejects.toMatchObject({ status: 422 });
    }
  });
});

describe('cooldown', () => {
  it('two matches inside the cooldown trigger once; with cooldown 0, twice', async () => {
    const ev = await event();
    const slow = await rule(ev, { operator: 'gt', threshold: 0, cooldown_seconds: 60 });
    const fast = await rule(ev, { operator: 'gt', threshold: 0, cooldown_seconds: 0 });
    await admin.request('ingest', { points: [{ event: ev, value: 1 }] });
    await admin.request('ingest', { points: [{ event: ev, value: 2 }] });
    expect(await logsMentioning(`Rule "${slow.name}"`)).toHaveLength(1);
    expect(await logsMentioning(`Rule "${fast.name}"`)).toHaveLength(2);
  });

  it('a disabled rule does not fire, and fires again once enabled', async () => {
    const ev = await event();
    const r = await rule(ev, { operator: 'gt', threshold: 0, enabled: false });
    await admin.request('ingest', { points: [{ event: ev, value: 1 }] });
    expect(await logsMentioning(`Rule "${r.name}"`)).toHaveLength(0);
    await admin.request('rules.update', { public_id: r.public_id, enabled: true });
    await admin.request('ingest', { points: [{ event: ev, value: 2 }] });
    expect(await logsMentioning(`Rule "${r.name}"`)).toHaveLength(1);
  });
});

describe('inside a batch', () => {
  it('the one matching point of a 10 000-point message triggers, with its value', async () => {
    const ev = await event();
    const r = await rule(ev, { operator: 'gt', threshold: 1000, cooldown_seconds: 60 });
    const points = Array.from({ length: 10_000 }, (_, i) => ({ event: ev, value: i === 7777 ? 5000 : i % 100, ts: 1_700_000_000_000 + i }));
    expect(await admin.request('ingest', { points })).toMatchObject({ accepted: 10_000 });
    const logs = await logsMentioning(`Rule "${r.name}"`);
    expect(logs).toHaveLength(1);
    expect(logs[0]?.content).toContain('= 5000 (');
  });
});

describe('alerts and the log, on topics', () => {
  it('pushes an alert to `alerts` subscribers within a second of the commit, with every field', async () => {
    const ev = await event('boiler');
    const r = await rule(ev, { operator: 'gt', threshold: 90 });
    const viewer = await h.connect((await h.userWithRole('viewer')).token);
    const alerts = pushesOf(viewer, 'alert');
    await expect(viewer.request('subscribe', { topics: ['alerts'] })).resolves.toEqual({ subscribed: [], topics: ['alerts'] });
    const started = Date.now();
    await admin.request('ingest', { points: [{ event: ev, value: 95.5, ts: 1_700_000_000_123 }] });
    await expect.poll(() => alerts.length, { timeout: 1000 }).toBe(1);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(alerts[0]).toMatchObject({
      rule_public_id: r.public_id,
      rule_name: r.name,
      event_public_id: ev,
      event_name: 'boiler',
      value: 95.5,
      ts: 1_700_000_000_123,
      operator: 'gt',
      threshold: 90,
      threshold_high: null,
    });
    expect(new Date(alerts[0]?.triggered_at).toISOString()).toBe(alerts[0]?.triggered_at);
    // Unsubscribed: no more.
    await expect(viewer.request('unsubscribe', { topics: ['alerts'] })).resolves.toEqual({ unsubscribed: [], topics: ['alerts'] });
    await admin.request('ingest', { points: [{ event: ev, value: 99 }] });
    await new Promise((r) => setTimeout(r, 300));
    expect(alerts).toHaveLength(1);
    await viewer.close();
  });

  it('pushes each new log entry to `log_entries` subscribers: triggers, logins, experiments, hand-written ones', async () => {
    const viewer = await h.connect((await h.userWithRole('viewer')).token);
    const entries = pushesOf(viewer, 'log_entry');
    await viewer.request('subscribe', { topics: ['log_entries'] });
    const ev = await event();
    const r = await rule(ev, { operator: 'lt', threshold: 0 });
    await admin.request('ingest', { points: [{ event: ev, value: -3 }] });
    await h.login('admin', (await import('../support/hub.js')).ADMIN_PASSWORD);
    const experiment = await admin.request<Rec>('experiments.create', { name: `exp-${++counter}` });
    await admin.request('experiments.stop', { public_id: experiment.public_id });
    await admin.request('log_entries.create', { content: 'written by hand' });
    await expect.poll(() => entries.length).toBeGreaterThanOrEqual(5);
    const contents = entries.map((e) => e.content as string);
    expect(contents[0]).toContain(`Rule "${r.name}" triggered`);
    expect(contents[1]).toContain('User "admin" logged in');
    expect(contents[2]).toBe(`Experiment "${experiment.name}" started`);
    expect(contents[3]).toBe(`Experiment "${experiment.name}" stopped`);
    expect(contents[4]).toBe('written by hand');
    // Full records, as log_entries.get gives them.
    const got = await admin.request<Rec>('log_entries.get', { public_id: entries[2]?.public_id });
    expect(entries[2]).toEqual(got);
    await viewer.close();
  });

  it('a log entry too long for a NOTIFY is still pushed, whole', async () => {
    const viewer = await h.connect(h.adminToken);
    const entries = pushesOf(viewer, 'log_entry');
    await viewer.request('subscribe', { topics: ['log_entries'] });
    const long = 'x'.repeat(20_000);
    await admin.request('log_entries.create', { content: long });
    await expect.poll(() => entries.some((e) => e.content === long)).toBe(true);
    await viewer.close();
  });

  it('lists log entries newest first with "order": "desc"', async () => {
    await admin.request('log_entries.create', { content: 'newest of all' });
    const page = await admin.request<Rec>('log_entries.list', { order: 'desc', page_size: 3 });
    expect(page.items[0].content).toBe('newest of all');
    const oldest = await admin.request<Rec>('log_entries.list', { page_size: 1 });
    expect(oldest.items[0].content).toMatch(/^Hub .* started$/);
    await expect(admin.request('log_entries.list', { order: 'sideways' })).rejects.toMatchObject({ status: 422 });
  });

  it('topics: devices may not subscribe (403), unknown topics are 422, and a subscribe needs events or topics', async () => {
    const instance = await admin.request<Rec>('plugin_instances.create', { plugin_id: 'p', instance_name: `topic-dev-${++counter}` });
    const { token } = await admin.request<Rec>('api_tokens.create', { name: 'd', plugin_instance_public_id: instance.public_id });
    const device = await h.connect(token);
    await expect(device.request('subscribe', { topics: ['alerts'] })).rejects.toMatchObject({ status: 403 });
    await device.close();
    await expect(admin.request('subscribe', { topics: ['weather'] })).rejects.toMatchObject({ status: 422 });
    await expect(admin.request('subscribe', {})).rejects.toMatchObject({ status: 422 });
  });

  it('topic pushes come in order and are never conflated; a subscriber too slow for them is closed with 1013', async () => {
    const ev = await event();
    await rule(ev, { operator: 'gt', threshold: -1 });
    // A reader that keeps up gets every alert, in order.
    const reader = await h.connect(h.adminToken);
    const alerts = pushesOf(reader, 'alert');
    await reader.request('subscribe', { topics: ['alerts'] });
    // A reader that never reads.
    const stalled = await rawSocket(h.wsUrl, h.adminToken);
    const closed = new Promise<number>((resolve) => stalled.once('close', (code) => resolve(code)));
    stalled.send(JSON.stringify({ id: 1, op: 'subscribe', data: { topics: ['alerts'] } }));
    await new Promise((r) => setTimeout(r, 200));
    (stalled as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    // Enough alerts (each a few hundred bytes) to pass the 1 MiB buffer and the kernel's.
    for (let i = 0; i < 40; i++) {
      await admin.request('ingest', { points: Array.from({ length: 500 }, (_, k) => ({ event: ev, value: i * 1000 + k })) });
    }
    await expect.poll(() => alerts.length, { timeout: 10_000 }).toBe(20_000);
    expect(alerts.map((a) => a.value)).toEqual(Array.from({ length: 20_000 }, (_, n) => Math.floor(n / 500) * 1000 + (n % 500)));
    (stalled as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(1013);
    await reader.close();
  }, 60_000);
});

describe('deliveries of a webhook action commit with the trigger', () => {
  it('queues one delivery per subscribed, enabled webhook, with the threshold body', async () => {
    const ev = await event('tank');
    const on = await admin.request<Rec>('webhooks.create', { url: 'https://example.com/hook', events: ['sensor.threshold_exceeded'] });
    await admin.request<Rec>('webhooks.create', { url: 'https://example.com/off', events: ['sensor.threshold_exceeded'], enabled: false });
    await admin.request<Rec>('webhooks.create', { url: 'https://example.com/other', events: ['experiment.started'] });
    const r = await rule(ev, { operator: 'gt', threshold: 1, action_type: 'webhook', cooldown_seconds: 60 });
    await admin.request('ingest', { points: [{ event: ev, value: 7, ts: 1_700_000_000_000 }] });
    const { rows } = await h.database.pool.query('SELECT webhook_public_id, event_type, payload, status FROM webhook_deliveries WHERE payload->>\'rule_public_id\' = $1', [r.public_id]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ webhook_public_id: on.public_id, event_type: 'sensor.threshold_exceeded' });
    expect(rows[0].payload).toMatchObject({
      type: 'sensor.threshold_exceeded',
      rule_public_id: r.public_id,
      rule_name: r.name,
      event_public_id: ev,
      sensor: 'tank',
      value: 7,
      ts: 1_700_000_000_000,
      threshold: 1,
      threshold_high: null,
    });
    expect(new Date(rows[0].payload.time).toISOString()).toBe(rows[0].payload.time);
  });
});

describe('rule reloads', () => {
  it('claiming a cooldown does not announce a rule change; editing a rule does', async () => {
    const pg = (await import('pg')).default;
    const listener = new pg.Client({ connectionString: h.database.url });
    await listener.connect();
    const notices: string[] = [];
    listener.on('notification', (n) => {
      if (n.channel === 'hub_catalog') notices.push(n.payload ?? '');
    });
    await listener.query('LISTEN hub_catalog');
    const ev = await event();
    const r = await rule(ev, { operator: 'gt', threshold: 0, cooldown_seconds: 0 });
    await new Promise((res) => setTimeout(res, 200));
    notices.length = 0;
    for (let i = 0; i < 3; i++) await admin.request('ingest', { points: [{ event: ev, value: 1 + i }] });
    await new Promise((res) => setTimeout(res, 300));
    expect(await logsMentioning(`Rule "${r.name}"`)).toHaveLength(3);
    expect(notices.filter((n) => n === 'rules')).toEqual([]);
    await admin.request('rules.update', { public_id: r.public_id, threshold: 5 });
    await expect.poll(() => notices.filter((n) => n === 'rules').length).toBeGreaterThan(0);
    await listener.end();
  });
});

describe('deleting an event while its rule fires', () => {
  it('regression: does not deadlock with a batch that triggers the rule (the event is held before the rules are locked)', async () => {
    const ev = await event();
    await rule(ev, { operator: 'gt', threshold: -1 });
    // The batch's rule work waits on this lock: its transaction sits after its rule lock.
    const locker = new pg.Client({ connectionString: h.database.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE log_entries IN SHARE MODE');
    let unlocked = false;
    try {
      const ingest = admin.request<Rec>('ingest', { points: [{ event: ev, value: 1 }] }, 20_000).catch((e: Rec) => e);
      await new Promise((r) => setTimeout(r, 300));
      // The delete locks the event, then its rules (their ON DELETE CASCADE).
      const deleted = admin.request('events.delete', { public_id: ev }, 20_000).then(
        () => 'deleted',
        (e: Rec) => e,
      );
      await new Promise((r) => setTimeout(r, 300));
      await locker.query('COMMIT');
      unlocked = true;
      // Held before the rule lock, the event makes the delete wait for the batch: both succeed.
      // Held after it (the defect), the two deadlocked and PostgreSQL aborted one of them.
      expect(await ingest).toMatchObject({ accepted: 1 });
      expect(await deleted).toBe('deleted');
    } finally {
      if (!unlocked) await locker.query('COMMIT').catch(() => undefined);
      await locker.end();
    }
    const { rows } = await h.database.pool.query('SELECT count(*)::int AS n FROM datapoints WHERE event_public_id = $1', [ev]);
    expect(rows[0].n).toBe(0);
  }, 30_000);
});
