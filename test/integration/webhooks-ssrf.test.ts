/**
 * The SSRF guard (PROTOCOL.md §12) without HUB_WEBHOOK_ALLOW_PRIVATE: webhook URLs with a
 * loopback, private… literal host or `localhost` are refused on write (422 on /url); at delivery,
 * a name resolving to such an address (through an injected resolver) is refused after
 * resolution, and the connection goes to the address that was checked.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Resolver } from '../../src/automation/address-guard.js';
import { WebhookSender } from '../../src/automation/sender.js';
import type { HubClient } from '../../src/client/hub-client.js';
import { OutboxStore } from '../../src/db/outbox-store.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startTestHub, type TestHub } from '../support/hub.js';
import { eventually, startReceiver, type Receiver } from '../support/webhook-receiver.js';

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

describe('on write', () => {
  it.each([
    'http://127.0.0.1:8080/hook',
    'http://127.1/hook',
    'http://2130706433/hook',
    'http://localhost/hook',
    'http://LocalHost./hook',
    'http://api.localhost/hook',
    'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://10.1.2.3/hook',
    'http://172.16.0.1/hook',
    'http://192.168.1.10/hook',
    'http://100.64.0.1/hook',
    'http://169.254.169.254/latest/meta-data',
    'http://[fe80::1]/hook',
    'http://[fd00::1]/hook',
    'http://224.0.0.1/hook',
    'http://0.0.0.0/hook',
    'https://[::]/hook',
  ])('create refuses %s with 422 on /url', async (url) => {
    const err = await admin.request('webhooks.create', { url, events: ['sensor.reading'] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 422, code: 'invalid' });
    expect((err as { details: { path: string; message: string }[] }).details).toEqual([
      { path: '/url', message: expect.stringMatching(/must not reach a loopback, private/) },
    ]);
  });

  it('update refuses such a URL too, and a public name or address is accepted (it is resolved only at delivery)', async () => {
    const hook = await admin.request<{ public_id: string }>('webhooks.create', { url: 'https://hooks.example.com/in', events: ['device.online', 'device.offline'] });
    await expect(admin.request('webhooks.update', { public_id: hook.public_id, url: 'http://localhost:9000/' })).rejects.toMatchObject({
      status: 422,
      details: [{ path: '/url', message: expect.stringContaining('localhost') }],
    });
    await expect(admin.request('webhooks.update', { public_id: hook.public_id, url: 'http://93.184.216.34/in' })).resolves.toMatchObject({
      url: 'http://93.184.216.34/in',
    });
    // The seven event types of §12 are accepted.
    await expect(
      admin.request('webhooks.update', {
        public_id: hook.public_id,
        events: ['sensor.threshold_exceeded', 'sensor.reading', 'experiment.started', 'experiment.stopped', 'firmware.status_changed', 'device.online', 'device.offline'],
      }),
    ).resolves.toMatchObject({ events: expect.arrayContaining(['device.online']) });
  });
});

describe('at delivery (a sender on a database of its own, with a test resolver)', () => {
  let db: TestDatabase;
  let receiver: Receiver;
  let sender: WebhookSender | undefined;
  const resolver: Resolver = async (host) => {
    if (host === 'receiver.test') return [{ address: '127.0.0.1', family: 4 }];
    if (host === 'public-then-private.test') return [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.7', family: 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await sender?.stop(0);
    sender = undefined;
    await db.pool.query('DELETE FROM webhooks'); // and their deliveries (cascade)
  });
  afterAll(async () => {
    await receiver?.close();
    await db?.drop();
  });

  /** A webhook written straight to the database (as one written before the guard, or with it off). */
  async function queue(url: string): Promise<string> {
    const { rows } = await db.pool.query<{ public_id: string }>(
      `WITH w AS (INSERT INTO webhooks (url, events) VALUES ($1, ARRAY['sensor.reading']) RETURNING public_id)
       INSERT INTO webhook_deliveries (webhook_public_id, event_type, payload, status, next_attempt_at)
       SELECT public_id, 'sensor.reading', '{"type":"sensor.reading"}', 'pending', now() FROM w RETURNING public_id`,
      [url],
    );
    return rows[0]!.public_id;
  }

  function startSender(allowPrivate: boolean, metrics?: Metrics): WebhookSender {
    sender = new WebhookSender({ store: new OutboxStore(db.pool), log: createLogger('silent'), maxAttempts: 3, allowPrivate, resolver, metrics });
    sender.start();
    return sender;
  }

  async function attempted(id: string): Promise<{ status: string; attempts: number; last_error: string | null; response_code: number | null }> {
    return eventually(async () => {
      const { rows } = await db.pool.query('SELECT status, attempts, last_error, response_code FROM webhook_deliveries WHERE public_id = $1', [id]);
      return rows[0].attempts > 0 || rows[0].status !== 'pending' ? rows[0] : undefined;
    }, 10_000, 'an attempt');
  }

  it('refuses a name that resolves to 127.0.0.1, and never connects', async () => {
    const metrics = new Metrics();
    const id = await queue(`http://receiver.test:${receiver.port}/hook`);
    startSender(false, metrics);
    const row = await attempted(id);
    expect(row).toMatchObject({ status: 'pending', attempts: 1, response_code: null });
    expect(row.last_error).toBe('address not allowed: receiver.test resolves to 127.0.0.1, a loopback address');
    expect(receiver.requests).toHaveLength(0);
    const counts = await metrics.webhookDeliveries.get();
    expect(counts.values.find((v) => v.labels.outcome === 'refused_address')?.value).toBe(1);
  });

  it('refuses a name with one private address among public ones', async () => {
    const id = await queue(`http://public-then-private.test:${receiver.port}/hook`);
    startSender(false);
    expect((await attempted(id)).last_error).toBe('address not allowed: public-then-private.test resolves to 10.0.0.7, a private address');
  });

  it('refuses a stored literal loopback URL and localhost without contacting them', async () => {
    const literal = await queue(`http://127.0.0.1:${receiver.port}/hook`);
    const local = await queue(`http://localhost:${receiver.port}/hook`);
    startSender(false);
    expect((await attempted(literal)).last_error).toBe('address not allowed: 127.0.0.1, a loopback address');
    expect((await attempted(local)).last_error).toBe('address not allowed: localhost is a loopback name');
    expect(receiver.requests).toHaveLength(0);
  });

  it('with allowPrivate, connects to the address the resolver gave (the name is not in any real DNS)', async () => {
    const id = await queue(`http://receiver.test:${receiver.port}/hook`);
    startSender(true);
    const [req] = await receiver.waitFor(1, 5_000);
    expect(req!.headers.host).toBe(`receiver.test:${receiver.port}`);
    expect(await attempted(id)).toMatchObject({ status: 'delivered', attempts: 1, response_code: 200 });
  });
});
