/**
 * Webhook delivery from the outbox to real HTTP receivers (PROTOCOL.md §12): the POST's body and
 * headers, the signature (recomputed here), retries and their backoff, dead letters with their
 * log entry and the retry op, redirects, a dead receiver beside a live one, disabled and deleted
 * webhooks, `webhooks.test`, and the webhook metrics.
 */
import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { enqueueDeliveries } from '../../src/automation/outbox.js';
import type { HubClient } from '../../src/client/hub-client.js';
import { startTestHub, type TestHub } from '../support/hub.js';
import { eventually, startReceiver, type Receiver } from '../support/webhook-receiver.js';

type Rec = Record<string, unknown>;

let h: TestHub;
let admin: HubClient;
const receivers: Receiver[] = [];

beforeAll(async () => {
  h = await startTestHub({ HUB_WEBHOOK_ALLOW_PRIVATE: '1', HUB_WEBHOOK_MAX_ATTEMPTS: '3' });
  admin = await h.connect(h.adminToken);
});
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

async function webhook(url: string, fields: Rec = {}): Promise<Rec & { public_id: string }> {
  return admin.request('webhooks.create', { url, events: ['experiment.started'], ...fields });
}

/** Queues deliveries as a cause does: enqueueDeliveries in the cause's (here: its own) transaction. */
function enqueue(type: Parameters<typeof enqueueDeliveries>[1], fields: Rec): Promise<number> {
  return enqueueDeliveries((text, params) => h.database.pool.query(text, params), type, fields);
}

async function deliveriesOf(webhookPublicId: string): Promise<Rec[]> {
  const page = await admin.request<{ items: Rec[] }>('webhook_deliveries.list', { filter: { webhook_public_id: webhookPublicId }, page_size: 500 });
  return page.items;
}

async function delivery(publicId: string): Promise<Rec> {
  return admin.request('webhook_deliveries.get', { public_id: publicId });
}

/** Waits until the delivery satisfies `done`. */
function deliveryWhen(publicId: string, done: (d: Rec) => boolean, timeoutMs = 15_000, what = 'delivery state'): Promise<Rec> {
  return eventually(async () => {
    const d = await delivery(publicId);
    return done(d) ? d : undefined;
  }, timeoutMs, what);
}

describe('a delivery', () => {
  it('is POSTed soon after its cause commits, with the exact body and the headers of §12, signed', async () => {
    const r = await receiver();
    const secret = 's3cr3t-for-the-signature';
    const hook = await webhook(r.url, { secret });
    const before = Math.floor(Date.now() / 1000);
    const committedAt = Date.now();
    expect(await enqueue('experiment.started', { experiment_public_id: 'e-1', name: 'run 1' })).toBe(1);

    const [req] = await r.waitFor(1, 5_000);
    // Woken by the NOTIFY of the commit, not by a poll (the idle poll is a minute).
    expect(req!.at - committedAt).toBeLessThan(2_000);
    const after = Math.ceil(Date.now() / 1000);

    const [row] = await deliveriesOf(hook.public_id);
    const d = await deliveryWhen(row!.public_id as string, (x) => x.status === 'delivered');
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/hook');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['x-webhook-event']).toBe('experiment.started');
    expect(req!.headers['x-webhook-delivery']).toBe(d.public_id);
    const ts = Number(req!.headers['x-webhook-timestamp']);
    expect(Number.isInteger(ts)).toBe(true);
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(after);
    const expected = createHmac('sha256', secret).update(`${req!.headers['x-webhook-timestamp']}.${req!.body}`).digest('hex');
    expect(req!.headers['x-webhook-signature']).toBe(expected);

    const body = JSON.parse(req!.body) as Rec;
    expect(body).toEqual(d.payload);
    expect(body).toEqual({ type: 'experiment.started', time: expect.any(String), experiment_public_id: 'e-1', name: 'run 1' });
    expect(new Date(body.time as string).toISOString()).toBe(body.time);

    expect(d).toMatchObject({ status: 'delivered', attempts: 1, response_code: 200, last_error: null, next_attempt_at: null });
    expect(Date.parse(d.delivered_on as string)).toBeGreaterThanOrEqual(committedAt - 1000);
  });

  it('has no signature header when its webhook has no secret', async () => {
    const r = await receiver();
    const hook = await webhook(r.url);
    await admin.request('webhooks.test', { public_id: hook.public_id });
    const [req] = await r.waitFor(1, 5_000);
    expect(req!.headers['x-webhook-signature']).toBeUndefined();
    expect(req!.headers['x-webhook-event']).toBe('ping');
  });

  it('is retried after 2 s, then 4 s, and delivered by the first 2xx', async () => {
    const r = await receiver();
    r.answer((_req, nth) => (nth <= 2 ? 500 : 204));
    const hook = await webhook(r.url, { secret: 'k' });
    await enqueue('experiment.started', { experiment_public_id: 'e-2', name: 'run 2' });

    const first = await r.waitFor(1, 5_000);
    const [row] = await deliveriesOf(hook.public_id);
    const failed = await deliveryWhen(row!.public_id as string, (x) => x.attempts === 1);
    expect(failed).toMatchObject({ status: 'pending', response_code: 500, last_error: 'HTTP 500' });
    const due = Date.parse(failed.next_attempt_at as string) - first[0]!.at;
    expect(due).toBeGreaterThan(1_500);
    expect(due).toBeLessThan(3_000);

    const reqs = await r.waitFor(3, 15_000);
    const gap1 = reqs[1]!.at - reqs[0]!.at;
    const gap2 = reqs[2]!.at - reqs[1]!.at;
    expect(gap1).toBeGreaterThanOrEqual(1_900);
    expect(gap1).toBeLessThan(3_500);
    expect(gap2).toBeGreaterThanOrEqual(3_900);
    expect(gap2).toBeLessThan(5_500);
    // Every attempt is the same delivery, signed afresh with its own timestamp.
    expect(new Set(reqs.map((q) => q.headers['x-webhook-delivery'])).size).toBe(1);
    for (const q of reqs) {
      expect(q.headers['x-webhook-signature']).toBe(createHmac('sha256', 'k').update(`${q.headers['x-webhook-timestamp']}.${q.body}`).digest('hex'));
    }
    const done = await deliveryWhen(row!.public_id as string, (x) => x.status === 'delivered');
    expect(done).toMatchObject({ attempts: 3, response_code: 204 });
  });

  it('is dead-lettered after HUB_WEBHOOK_MAX_ATTEMPTS with an error log entry, and the retry op sends it again', async () => {
    const r = await receiver();
    r.answer(() => 503);
    const hook = await webhook(r.url);
    await enqueue('experiment.started', { experiment_public_id: 'e-3', name: 'run 3' });
    await r.waitFor(1, 5_000);
    const [row] = await deliveriesOf(hook.public_id);
    const id = row!.public_id as string;

    const dead = await deliveryWhen(id, (x) => x.status === 'dead_letter', 15_000, 'dead letter');
    expect(dead).toMatchObject({ attempts: 3, response_code: 503, last_error: 'HTTP 503', next_attempt_at: null });
    expect(r.requests).toHaveLength(3);

    const logs = await admin.request<{ items: Rec[] }>('log_entries.list', { filter: { logging_type: 'error' }, page_size: 500 });
    const entry = logs.items.find((e) => (e.content as string).includes(id));
    expect(entry).toBeDefined();
    expect(entry!.content).toContain(`127.0.0.1:${r.port}`);
    expect(entry!.content).toContain('dead-lettered after 3 attempts');

    // Nothing more is sent to a dead letter.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(r.requests).toHaveLength(3);

    // Retry: pending again, attempts 0, due now; sent at once.
    r.answer(() => 200);
    const retried = await admin.request<Rec>('webhook_deliveries.retry', { public_id: id });
    expect(retried).toMatchObject({ public_id: id, status: 'pending', attempts: 0 });
    expect(Math.abs(Date.parse(retried.next_attempt_at as string) - Date.now())).toBeLessThan(5_000);
    await r.waitFor(4, 5_000);
    expect(await deliveryWhen(id, (x) => x.status === 'delivered')).toMatchObject({ attempts: 1, response_code: 200 });

    // Only a dead letter can be retried.
    await expect(admin.request('webhook_deliveries.retry', { public_id: id })).rejects.toMatchObject({ status: 409, code: 'conflict' });
    await expect(admin.request('webhook_deliveries.retry', { public_id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('does not follow a redirect: a 3xx is a failed attempt', async () => {
    const target = await receiver();
    const r = await receiver();
    r.answer(() => ({ status: 302, headers: { location: target.url } }));
    const hook = await webhook(r.url);
    const queued = await admin.request<Rec>('webhooks.test', { public_id: hook.public_id });
    const d = await deliveryWhen(queued.public_id as string, (x) => x.attempts === 1);
    expect(d).toMatchObject({ status: 'pending', response_code: 302 });
    expect(d.last_error).toMatch(/HTTP 302.*redirects are not followed/);
    expect(target.requests).toHaveLength(0);
  });
});

describe('webhooks.test', () => {
  it('queues a ping, sent even to a disabled webhook, and returns its record', async () => {
    const r = await receiver();
    const hook = await webhook(r.url, { enabled: false });
    const queued = await admin.request<Rec>('webhooks.test', { public_id: hook.public_id });
    expect(queued).toMatchObject({ webhook_public_id: hook.public_id, event_type: 'ping', status: 'pending', attempts: 0 });
    expect(typeof queued.public_id).toBe('string');
    const [req] = await r.waitFor(1, 5_000);
    expect(JSON.parse(req!.body)).toEqual({ type: 'ping', time: expect.any(String), webhook_public_id: hook.public_id });
    expect(req!.headers['x-webhook-delivery']).toBe(queued.public_id);
    await deliveryWhen(queued.public_id as string, (x) => x.status === 'delivered');
  });

  it('is 404 for an unknown webhook and 403 for an operator', async () => {
    await expect(admin.request('webhooks.test', { public_id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({ status: 404 });
    const operator = await h.connect((await h.userWithRole('operator')).token);
    try {
      await expect(operator.request('webhooks.test', { public_id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({ status: 403 });
      await expect(operator.request('webhook_deliveries.retry', { public_id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({
        status: 403,
      });
    } finally {
      await operator.close();
    }
  });
});

describe('disabled and deleted webhooks', () => {
  it('a disabled webhook is not sent to until it is enabled again', async () => {
    const r = await receiver();
    const hook = await webhook(r.url);
    await admin.request('webhooks.update', { public_id: hook.public_id, enabled: false });
    // A delivery queued before it was disabled (enqueueDeliveries itself skips disabled ones).
    await h.database.pool.query(
      `INSERT INTO webhook_deliveries (webhook_public_id, event_type, payload, status, next_attempt_at)
       VALUES ($1, 'experiment.started', '{"type":"experiment.started"}', 'pending', now())`,
      [hook.public_id],
    );
    await h.database.pool.query(`SELECT pg_notify('hub_outbox', '')`);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(r.requests).toHaveLength(0);
    expect((await deliveriesOf(hook.public_id))[0]).toMatchObject({ status: 'pending', attempts: 0 });

    await admin.request('webhooks.update', { public_id: hook.public_id, enabled: true });
    await h.database.pool.query(`SELECT pg_notify('hub_outbox', '')`);
    await r.waitFor(1, 5_000);
  });

  it('deleting a webhook deletes its deliveries', async () => {
    const r = await receiver();
    r.answer(() => 500);
    const hook = await webhook(r.url);
    const queued = await admin.request<Rec>('webhooks.test', { public_id: hook.public_id });
    await r.waitFor(1, 5_000);
    await admin.request('webhooks.delete', { public_id: hook.public_id });
    await expect(delivery(queued.public_id as string)).rejects.toMatchObject({ status: 404 });
    // And the retry due in 2 s is never made.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(r.requests).toHaveLength(1);
  });
});

describe('a dead receiver', () => {
  it('holds at most 2 attempts of its own webhook and never delays another webhook; its attempts time out after 10 s', async () => {
    const dead = await receiver();
    dead.answer(() => 'hang');
    const live = await receiver();
    const deadHook = await webhook(dead.url);
    const liveHook = await webhook(live.url);
    for (let i = 0; i < 6; i++) await admin.request('webhooks.test', { public_id: deadHook.public_id });
    await dead.waitFor(2, 5_000);
    const started = Date.now();

    const sent = Date.now();
    await admin.request('webhooks.test', { public_id: liveHook.public_id });
    const [req] = await live.waitFor(1, 3_000);
    expect(req!.at - sent).toBeLessThan(2_000);

    // Per webhook at most 2 in flight: the other 4 wait.
    expect(dead.requests).toHaveLength(2);
    expect(dead.maxOpen).toBe(2);

    // No answer within 10 s: the attempt fails and the next ones are sent.
    const timedOut = await eventually(
      async () => (await deliveriesOf(deadHook.public_id)).find((d) => d.attempts === 1),
      16_000,
      'a timed-out attempt',
    );
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(9_000);
    expect(elapsed).toBeLessThan(15_000);
    expect(timedOut).toMatchObject({ status: 'pending', response_code: null, last_error: 'no answer within 10 s' });
    await dead.waitFor(3, 3_000);
    expect(dead.maxOpen).toBe(2);
  }, 40_000);
});

describe('metrics', () => {
  it('count deliveries by outcome and show the outbox depth and the age of its oldest pending row', async () => {
    const r = await receiver();
    const hook = await webhook(r.url, { enabled: false });
    await h.database.pool.query(
      `INSERT INTO webhook_deliveries (webhook_public_id, event_type, payload, status, next_attempt_at, created_on)
       VALUES ($1, 'experiment.started', '{}', 'pending', now(), now() - interval '90 seconds')`,
      [hook.public_id],
    );
    const text = await (await fetch(`${h.baseUrl}/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('hub_webhook_outbox_pending')).toBeGreaterThanOrEqual(1);
    expect(value('hub_webhook_outbox_oldest_pending_seconds')).toBeGreaterThanOrEqual(90);
    // Earlier tests of this file delivered, failed and dead-lettered.
    expect(value('hub_webhook_deliveries_total\\{outcome="delivered"\\}')).toBeGreaterThanOrEqual(1);
    expect(value('hub_webhook_deliveries_total\\{outcome="failed"\\}')).toBeGreaterThanOrEqual(1);
    expect(value('hub_webhook_deliveries_total\\{outcome="dead_letter"\\}')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^hub_webhook_attempt_seconds_count [1-9]/m);
    await admin.request('webhooks.delete', { public_id: hook.public_id });
  });
});
