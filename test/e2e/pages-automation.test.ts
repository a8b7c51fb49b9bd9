/**
 * The operator pages against a real hub, part 2: rules (create, toggle) and the alert toast when
 * one fires, the log (unread count, mark read), webhooks (test ping, a dead letter retried),
 * firmware (upload with progress, apply, a device's progress live, roll back) and plugin
 * instances (presence live, channel mappings).
 */
import { createHash } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../support/hub.js';
import { startReceiver, type Receiver } from '../support/webhook-receiver.js';
import { CAN_RUN, launchChromium, logIn, openPage, row, screenshot, WAIT } from './pages-support.js';

let h: TestHub;
let browser: Browser;
let receiver: Receiver;

beforeAll(async () => {
  if (!CAN_RUN) return;
  // One attempt: a failed delivery is a dead letter at once, so the page can retry it.
  h = await startTestHub({ HUB_WEBHOOK_ALLOW_PRIVATE: '1', HUB_WEBHOOK_MAX_ATTEMPTS: '1' });
  receiver = await startReceiver();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await h?.stop();
});

describe.runIf(CAN_RUN)('operator pages: rules, alerts, log, webhooks, firmware, plugins', () => {
  it('creates a rule, toggles it, shows a toast when it fires, and the log marks entries read', async () => {
    const admin = await h.connect(h.adminToken);
    const event = await admin.request<{ public_id: string }>('events.create', { name: 'tank level', unit: '%' });
    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    await openPage(page, 'rules');
    await page.fill('#rule-form input[name=name]', 'tank overflow');
    await page.selectOption('#rule-form select[name=event_public_id]', event.public_id);
    await page.selectOption('#rule-form select[name=operator]', 'gt');
    await page.fill('#rule-form input[name=threshold]', '90');
    await page.fill('#rule-form input[name=cooldown_seconds]', '0');
    await page.click('#rule-form button:has-text("Create")');
    const rule = row(page, '#rules-table', 'tank overflow');
    await rule.waitFor({ timeout: WAIT });
    expect(await rule.locator('.last-trigger').textContent()).toBe('never');
    const enabled = async () => (await h.database.pool.query<{ enabled: boolean }>("SELECT enabled FROM rules WHERE name = 'tank overflow'")).rows[0]?.enabled;
    expect(await enabled()).toBe(true);

    const toggle = rule.locator('button[aria-pressed]');
    await toggle.click();
    await expect.poll(enabled, { timeout: WAIT }).toBe(false);
    await expect.poll(() => toggle.getAttribute('aria-pressed'), { timeout: WAIT }).toBe('false');
    await toggle.click();
    await expect.poll(enabled, { timeout: WAIT }).toBe(true);
    await expect.poll(() => toggle.getAttribute('aria-pressed'), { timeout: WAIT }).toBe('true');

    // A point over the threshold: the toast comes from the `alerts` topic, live.
    await admin.request('ingest', { points: [{ event: event.public_id, value: 97.5 }] });
    const toast = page.locator('#toasts .toast', { hasText: 'tank overflow' });
    await toast.waitFor({ timeout: WAIT });
    expect(await toast.textContent()).toContain('tank level = 97.5');
    await expect.poll(() => rule.locator('.last-trigger').textContent(), { timeout: WAIT }).not.toBe('never');
    await screenshot(page, 'rules');
    await toast.locator('button').click();
    await expect.poll(() => toast.count()).toBe(0);

    // The log: the trigger's entry, unread; the header counts it.
    const unreadInDb = async () => Number((await h.database.pool.query<{ n: string }>("SELECT count(*) AS n FROM log_entries WHERE status_type = 'unread'")).rows[0]?.n);
    await expect.poll(async () => Number(await page.locator('#unread-count').textContent()), { timeout: WAIT }).toBe(await unreadInDb());
    await openPage(page, 'log');
    const entry = page.locator('#log-table tbody tr', { hasText: 'tank overflow' }).first();
    await entry.waitFor({ timeout: WAIT });
    expect(await entry.getAttribute('data-status')).toBe('unread');
    // Newest first: the trigger is the newest entry.
    expect(await page.locator('#log-table tbody tr').first().textContent()).toContain('tank overflow');
    const before = await unreadInDb();
    await entry.locator('button:has-text("Mark read")').click();
    await expect.poll(() => entry.getAttribute('data-status'), { timeout: WAIT }).toBe('read');
    expect(await unreadInDb()).toBe(before - 1);
    await expect.poll(() => page.textContent('#log-unread'), { timeout: WAIT }).toBe(`${before - 1} unread`);

    // A new entry arrives live (topic `log_entries`) at the top, and the count moves.
    await admin.request('log_entries.create', { content: 'operator note: valve replaced', logging_type: 'info' });
    await page.locator('#log-table tbody tr', { hasText: 'valve replaced' }).waitFor({ timeout: WAIT });
    await expect.poll(() => page.textContent('#log-unread'), { timeout: WAIT }).toBe(`${before} unread`);
    await screenshot(page, 'log');

    // More unread entries than the hub lets one caller have requests in flight (8).
    for (let i = 0; i < 12; i++) await admin.request('log_entries.create', { content: `batch note ${i}`, logging_type: 'info' });
    await expect.poll(() => page.textContent('#log-unread'), { timeout: WAIT }).toBe(`${before + 12} unread`);
    await page.click('#page-log button:has-text("Mark all read")');
    await expect.poll(unreadInDb, { timeout: WAIT }).toBe(0);
    await expect.poll(() => page.locator('#unread-count').count(), { timeout: WAIT }).toBe(0);
    await expect.poll(() => page.locator('#log-table tbody tr[data-status=unread]').count(), { timeout: WAIT }).toBe(0);
    await admin.close();
    s.expectNoErrors();
    await s.close();
  }, 90_000);

  it('creates a webhook, sends a test ping, and retries a dead-lettered delivery', async () => {
    receiver.answer((_req, nth) => (nth === 1 ? 500 : 200));
    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    await openPage(page, 'webhooks');
    await page.fill('#webhook-form input[name=url]', receiver.url);
    await page.fill('#webhook-form input[name=secret]', 'shared-secret');
    await page.check('#webhook-form input[value="experiment.started"]');
    await page.click('#webhook-form button:has-text("Create")');
    const hook = row(page, '#webhooks-table', receiver.url);
    await hook.waitFor({ timeout: WAIT });
    expect(await hook.textContent()).toContain('sensor.threshold_exceeded, experiment.started');

    await hook.locator('button:has-text("Test")').click();
    // The receiver answers the first ping 500: with one attempt allowed, a dead letter.
    const delivery = page.locator('#deliveries-table tbody tr', { hasText: 'ping' }).first();
    await expect.poll(() => delivery.getAttribute('data-status'), { timeout: WAIT }).toBe('dead_letter');
    expect(await delivery.textContent()).toContain('500');
    await delivery.locator('button:has-text("Retry")').click();
    await expect.poll(() => delivery.getAttribute('data-status'), { timeout: WAIT }).toBe('delivered');
    const received = await receiver.waitFor(2, WAIT);
    expect(received.map((r) => r.headers['x-webhook-event'])).toEqual(['ping', 'ping']);
    expect(received[1]?.headers['x-webhook-signature']).toBeTruthy();
    await screenshot(page, 'webhooks');

    // Disable from the list.
    await hook.locator('button[aria-pressed]').click();
    await expect
      .poll(async () => (await h.database.pool.query<{ enabled: boolean }>('SELECT enabled FROM webhooks')).rows[0]?.enabled, { timeout: WAIT })
      .toBe(false);
    s.expectNoErrors();
    await s.close();
  }, 90_000);

  it('uploads a firmware file with a progress bar, applies it, follows a device live and rolls back', async () => {
    const admin = await h.connect(h.adminToken);
    const instance = await admin.request<{ public_id: string }>('plugin_instances.create', { plugin_id: 'esp32', instance_name: 'greenhouse-1' });
    const deviceToken = await admin.request<{ token: string }>('api_tokens.create', { name: 'greenhouse-1 key', plugin_instance_public_id: instance.public_id });
    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    await openPage(page, 'firmware');
    await page.fill('#firmware-form input[name=version]', '2.1.0');
    await page.fill('#firmware-form input[name=release_notes]', 'faster sampling');
    await page.click('#firmware-form button');
    const update = row(page, '#firmware-table', '2.1.0');
    await update.waitFor({ timeout: WAIT });
    expect(await update.textContent()).toContain('no file');
    expect(await update.locator('button:has-text("Apply")').isDisabled()).toBe(true);

    const body = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff;
    await update.locator('input[type=file]').setInputFiles({ name: 'fw-2.1.0.bin', mimeType: 'application/octet-stream', buffer: body });
    await expect.poll(() => page.textContent('#upload-state'), { timeout: WAIT }).toBe('done (3.0 MiB)');
    expect(await page.locator('#upload-progress progress').evaluate((el) => (el as unknown as { value: number }).value)).toBe(100);
    const stored = (await h.database.pool.query<{ file_hash_sha256: string; file_size_bytes: string }>("SELECT file_hash_sha256, file_size_bytes FROM firmware_updates WHERE version = '2.1.0'")).rows[0];
    expect(stored?.file_hash_sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(Number(stored?.file_size_bytes)).toBe(body.length);
    await expect.poll(() => update.textContent(), { timeout: WAIT }).toContain('3.0 MiB');

    await update.locator('button:has-text("Apply")').click();
    await update.locator('.badge', { hasText: 'applying' }).waitFor({ timeout: WAIT });
    await update.locator('button:has-text("Devices")').click();
    await page.locator('#firmware-devices').waitFor({ timeout: WAIT });

    // A device works through the steps; the page follows from the `firmware` topic.
    const device = await h.connect(deviceToken.token);
    const id = (await h.database.pool.query<{ public_id: string }>("SELECT public_id FROM firmware_updates WHERE version = '2.1.0'")).rows[0]?.public_id;
    const deviceRow = page.locator('#firmware-devices-table tbody tr', { hasText: 'greenhouse-1' });
    await device.request('firmware_updates.report', { public_id: id, status: 'downloading' });
    await deviceRow.locator('.badge', { hasText: 'downloading' }).waitFor({ timeout: WAIT });
    await expect.poll(() => update.textContent(), { timeout: WAIT }).toContain('1 in progress');
    await screenshot(page, 'firmware');
    for (const step of ['verifying', 'applying', 'completed']) await device.request('firmware_updates.report', { public_id: id, status: step });
    await deviceRow.locator('.badge', { hasText: 'completed' }).waitFor({ timeout: WAIT });
    await expect.poll(() => update.textContent(), { timeout: WAIT }).toContain('1 done');
    expect(await deviceRow.textContent()).toContain('2.1.0');
    await update.locator('.badge', { hasText: 'completed' }).waitFor({ timeout: WAIT });

    await update.locator('button:has-text("Roll back")').click();
    await update.locator('.badge', { hasText: 'rolled back' }).waitFor({ timeout: WAIT });
    expect((await h.database.pool.query<{ status: string }>("SELECT status FROM firmware_updates WHERE version = '2.1.0'")).rows[0]?.status).toBe('rolled_back');
    await device.close();
    await admin.close();
    s.expectNoErrors();
    await s.close();
  }, 90_000);

  it('creates a plugin instance and a channel mapping, and shows its presence live', async () => {
    const admin = await h.connect(h.adminToken);
    const event = await admin.request<{ public_id: string }>('events.create', { name: 'press force', unit: 'kN' });
    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    await openPage(page, 'plugins');
    await page.fill('#instance-form input[name=plugin_id]', 'modbus');
    await page.fill('#instance-form input[name=instance_name]', 'press-7');
    await page.click('#instance-form button');
    const inst = row(page, '#instances-table', 'press-7');
    await inst.waitFor({ timeout: WAIT });
    expect(await inst.locator('.badge').textContent()).toBe('inactive');
    expect(await inst.textContent()).toContain('never');

    await inst.locator('button:has-text("Channels")').click();
    await page.fill('#channel-form input[name=channel_id]', 'ai0');
    await page.fill('#channel-form input[name=channel_name]', 'force sensor');
    await page.fill('#channel-form input[name=unit]', 'kN');
    await page.selectOption('#channel-form select[name=event_public_id]', event.public_id);
    await page.click('#channel-form button');
    const channel = row(page, '#channels-table', 'ai0');
    await channel.waitFor({ timeout: WAIT });
    expect(await channel.textContent()).toContain('press force');
    const mapped = await h.database.pool.query<{ event_public_id: string }>("SELECT event_public_id FROM channel_mappings WHERE channel_id = 'ai0'");
    expect(mapped.rows[0]?.event_public_id).toBe(event.public_id);

    // A device socket of the instance: `connected` arrives from the `devices` topic, then `inactive`.
    const id = (await h.database.pool.query<{ public_id: string }>("SELECT public_id FROM plugin_instances WHERE instance_name = 'press-7'")).rows[0]?.public_id;
    const token = await admin.request<{ token: string }>('api_tokens.create', { name: 'press-7 key', plugin_instance_public_id: id });
    const device = await h.connect(token.token);
    await inst.locator('.badge', { hasText: 'connected' }).waitFor({ timeout: WAIT });
    await device.request('ingest', { points: [{ channel: 'ai0', value: 12 }] });
    await screenshot(page, 'plugins');
    await device.close();
    await inst.locator('.badge', { hasText: 'inactive' }).waitFor({ timeout: WAIT });
    await expect.poll(() => inst.textContent(), { timeout: WAIT }).toMatch(/\d+ s ago/);

    await channel.locator('button:has-text("Delete")').click();
    await channel.locator('button:has-text("Yes, delete")').click();
    await expect.poll(() => row(page, '#channels-table', 'ai0').count(), { timeout: WAIT }).toBe(0);
    await admin.close();
    s.expectNoErrors();
    await s.close();
  }, 90_000);
});
