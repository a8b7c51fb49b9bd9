/**
 * The operator pages against a real hub, part 1: events, experiments (stop, CSV export compared
 * with the database), the datapoints browser, API tokens (created, used, revoked) and users.
 */
import { readFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../support/hub.js';
import { CAN_RUN, launchChromium, logIn, openPage, row, screenshot, WAIT } from './pages-support.js';

let h: TestHub;
let browser: Browser;

beforeAll(async () => {
  if (!CAN_RUN) return;
  h = await startTestHub();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

describe.runIf(CAN_RUN)('operator pages: events, experiments, datapoints, tokens, users', () => {
  it('creates, edits and deletes an event', async () => {
    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    await openPage(page, 'events');
    await page.fill('#event-form input[name=name]', 'boiler pressure');
    await page.selectOption('#event-form select[name=event_type]', 'range');
    await page.fill('#event-form input[name=unit]', 'bar');
    await page.fill('#event-form input[name=min_value]', '0');
    await page.fill('#event-form input[name=max_value]', '12.5');
    await page.click('#event-form button:has-text("Create")');
    await row(page, '#events-table', 'boiler pressure').waitFor({ timeout: WAIT });
    const admin = await h.connect(h.adminToken);
    const stored = await admin.request<{ items: Record<string, unknown>[] }>('events.list', { filter: { name: 'boiler pressure' } });
    expect(stored.items[0]).toMatchObject({ event_type: 'range', unit: 'bar', min_value: 0, max_value: 12.5 });

    // Edit: the form fills with the record; the change reaches the hub.
    await row(page, '#events-table', 'boiler pressure').locator('button:has-text("Edit")').click();
    await expect.poll(() => page.inputValue('#event-form input[name=unit]')).toBe('bar');
    await page.fill('#event-form input[name=unit]', 'kPa');
    await page.click('#event-form button:has-text("Save")');
    await row(page, '#events-table', 'kPa').waitFor({ timeout: WAIT });
    const edited = await admin.request<Record<string, unknown>>('events.get', { public_id: stored.items[0]?.public_id });
    expect(edited.unit).toBe('kPa');

    // A refused create (duplicate name) is an error line, and the page goes on.
    await page.fill('#event-form input[name=name]', 'boiler pressure');
    await page.click('#event-form button:has-text("Create")');
    await page.locator('#event-form [role=alert]').waitFor({ timeout: WAIT });
    await screenshot(page, 'events');

    // Keyboard only: type a name and press Enter.
    await page.fill('#event-form input[name=name]', '');
    await page.focus('#event-form input[name=name]');
    await page.keyboard.type('keyboard event');
    await page.keyboard.press('Enter');
    await row(page, '#events-table', 'keyboard event').waitFor({ timeout: WAIT });

    // Delete asks once more, inline.
    await row(page, '#events-table', 'keyboard event').locator('button:has-text("Delete")').click();
    await row(page, '#events-table', 'keyboard event').locator('button:has-text("Yes, delete")').click();
    await expect.poll(() => row(page, '#events-table', 'keyboard event').count(), { timeout: WAIT }).toBe(0);
    expect((await admin.request<{ total: number }>('events.list', { filter: { name: 'keyboard event' } })).total).toBe(0);
    await admin.close();
    s.expectNoErrors();
    await s.close();
  }, 90_000);

  it('starts and stops an experiment, and its CSV download matches the database', async () => {
    const admin = await h.connect(h.adminToken);
    const temp = await admin.request<{ public_id: string }>('events.create', { name: 'kiln temp', unit: 'C' });
    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    await openPage(page, 'experiments');
    await page.fill('#experiment-form input[name=name]', 'firing 1');
    await page.click('#experiment-form button');
    const running = row(page, '#experiments-table', 'firing 1');
    await running.and(page.locator('tr.highlight')).waitFor({ timeout: WAIT });
    // A second one while it runs: the hub's 409, shown as a line.
    await page.fill('#experiment-form input[name=name]', 'firing 2');
    await page.click('#experiment-form button');
    await page.locator('#page-experiments [role=alert]').waitFor({ timeout: WAIT });

    const now = Date.now();
    const values = [20.5, 480, 1012.25, 1100, 640.125];
    await admin.request('ingest', { points: values.map((value, i) => ({ event: temp.public_id, value, ts: now - 5_000 + i * 1000 })) });
    await screenshot(page, 'experiments');
    await running.locator('button:has-text("Stop")').click();
    await expect.poll(() => page.locator('#experiments-table tr.highlight').count(), { timeout: WAIT }).toBe(0);
    await running.getByText('stopped').waitFor({ timeout: WAIT });

    const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), running.locator('a:has-text("CSV")').click()]);
    const csv = await readFile((await download.path()) as string, 'utf8');
    const lines = csv.trim().split(/\r?\n/);
    expect(lines[0]).toBe('timestamp,event_name,event_public_id,value,unit,datapoint_public_id');
    const experiment = (await h.database.pool.query<{ public_id: string }>("SELECT public_id FROM experiments WHERE name = 'firing 1'")).rows[0];
    const stored = await h.database.pool.query<{ timestamp: Date; name: string; event_public_id: string; value: number; unit: string; public_id: string }>(
      `SELECT d.timestamp, e.name, d.event_public_id, d.value, e.unit, d.public_id
         FROM datapoints d JOIN events e ON e.public_id = d.event_public_id
        WHERE d.experiment_public_id = $1 ORDER BY d.timestamp`,
      [experiment?.public_id],
    );
    expect(stored.rows.map((r) => Number(r.value))).toEqual(values);
    const fromCsv = lines.slice(1).map((line) => {
      const [ts, name, event, value, unit, id] = line.split(',');
      return { ts: new Date(ts as string).getTime(), name, event, value: Number(value), unit, id };
    });
    expect(fromCsv).toEqual(
      stored.rows.map((r) => ({ ts: r.timestamp.getTime(), name: r.name, event: r.event_public_id, value: Number(r.value), unit: r.unit, id: r.public_id })),
    );
    await admin.close();
    s.expectNoErrors();
    await s.close();
  }, 90_000);

  it('browses an event’s datapoints over a range, as a table and a chart, raw and in buckets', async () => {
    const admin = await h.connect(h.adminToken);
    const flow = await admin.request<{ public_id: string }>('events.create', { name: 'water flow', unit: 'l/min' });
    const now = Date.now();
    await admin.request('ingest', { points: [3.5, 4.25, 7.75].map((value, i) => ({ event: flow.public_id, value, ts: now - 30_000 + i * 10_000 })) });
    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    await openPage(page, 'datapoints');
    await page.selectOption('#datapoints-form select[name=event]', flow.public_id);
    await page.click('#datapoints-form button');
    await expect.poll(() => page.textContent('#datapoints-summary'), { timeout: WAIT }).toContain('3 points of water flow');
    // Newest first.
    await expect.poll(() => page.locator('#datapoints-table tbody td:nth-child(2)').allTextContents()).toEqual(['7.75', '4.25', '3.5']);
    await page.locator('.history-chart canvas').first().waitFor({ timeout: WAIT });
    await screenshot(page, 'datapoints');

    await page.selectOption('#datapoints-form select[name=bucket]', '3600000');
    await page.click('#datapoints-form button');
    await expect.poll(() => page.textContent('#datapoints-summary'), { timeout: WAIT }).toMatch(/^[12] buckets of water flow/);
    const counts = await page.locator('#datapoints-table tbody td:nth-child(5)').allTextContents();
    expect(counts.map(Number).reduce((a, b) => a + b, 0)).toBe(3);
    await admin.close();
    s.expectNoErrors();
    await s.close();
  }, 90_000);

  it('creates an API token, shows its secret once, the token works, and revoking it ends it', async () => {
    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    await openPage(page, 'tokens');
    await page.fill('#token-form input[name=name]', 'ci script');
    await page.click('#token-form button');
    const secret = (await page.locator('#token-secret').textContent({ timeout: WAIT })) ?? '';
    expect(secret.length).toBeGreaterThan(20);
    await page.locator('#new-token button:has-text("Copy")').click();
    await expect.poll(() => page.locator('#new-token [role=status]').textContent(), { timeout: WAIT }).not.toBe('');
    await screenshot(page, 'tokens');

    // The secret opens a socket and acts as its owner.
    const client = await h.connect(secret);
    const me = await client.request<{ user: { username: string }; role: string }>('auth.me', {});
    expect(me).toMatchObject({ user: { username: 'admin' }, role: 'admin' });
    const closed = client.closed;

    // Shown once: gone after Done, and never in the list.
    await page.locator('#new-token button:has-text("Done")').click();
    expect(await page.locator('#token-secret').count()).toBe(0);
    expect(await page.textContent('#tokens-table')).not.toContain(secret);

    await row(page, '#tokens-table', 'ci script').locator('button:has-text("Revoke")').click();
    await row(page, '#tokens-table', 'ci script').locator('button:has-text("Yes, revoke")').click();
    await expect.poll(() => row(page, '#tokens-table', 'ci script').count(), { timeout: WAIT }).toBe(0);
    expect((await closed).code).toBe(1008);
    await expect(h.connect(secret)).rejects.toThrow();
    s.expectNoErrors();
    await s.close();
  }, 90_000);

  it('lets an admin create a user, change its role and delete it', async () => {
    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    await openPage(page, 'users');
    await page.fill('#user-form input[name=username]', 'mallory');
    await page.fill('#user-form input[name=password]', 'a-long-password-1');
    await page.selectOption('#user-form select[name=role]', 'operator');
    await page.click('#user-form button');
    const mallory = row(page, '#users-table', 'mallory');
    await mallory.waitFor({ timeout: WAIT });
    const role = async () => (await h.database.pool.query<{ role: string }>("SELECT role FROM users WHERE username = 'mallory'")).rows[0]?.role;
    expect(await role()).toBe('operator');
    await mallory.locator('select').selectOption('viewer');
    await expect.poll(role, { timeout: WAIT }).toBe('viewer');
    // The new user can log in with the role given.
    expect(await h.login('mallory', 'a-long-password-1')).toBeTruthy();
    await screenshot(page, 'users');
    await mallory.locator('button:has-text("Delete")').click();
    await mallory.locator('button:has-text("Yes, delete")').click();
    await expect.poll(role, { timeout: WAIT }).toBeUndefined();
    s.expectNoErrors();
    await s.close();
  }, 90_000);
});
