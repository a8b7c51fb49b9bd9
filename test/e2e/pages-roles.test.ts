/**
 * The operator pages by role and by screen: a viewer sees no edit controls and no users page,
 * and a 403 reads as a line; an operator writes what operators may; every page loads without a
 * console error under the hub's CSP at 1280 px and at phone width (screenshots of each), in both
 * themes; the keyboard reaches the forms; a revoked session (1008) returns to the login form.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../support/hub.js';
import { CAN_RUN, launchChromium, logIn, openPage, PHONE, screenshot, WAIT } from './pages-support.js';

const PAGES = ['events', 'experiments', 'datapoints', 'rules', 'webhooks', 'firmware', 'plugins', 'tokens', 'users', 'log'] as const;
const ADMIN_ONLY = ['webhooks', 'users'];
/** Buttons that change something: none may show for a viewer. */
const WRITE_BUTTONS = /^(Create|Save|Edit|Delete|Stop|Start experiment|Apply|Roll back|Upload file|Revoke|Mark read|Mark all read|Add channel|Test|Retry|On|Off)$/;

let h: TestHub;
let browser: Browser;

beforeAll(async () => {
  if (!CAN_RUN) return;
  h = await startTestHub();
  browser = await launchChromium();
  // Something on every page, so that a row's controls would show if the role allowed them.
  const admin = await h.connect(h.adminToken);
  const event = await admin.request<{ public_id: string }>('events.create', { name: 'hall temp', unit: 'C', min_value: -10, max_value: 40 });
  await admin.request('experiments.create', { name: 'baseline run' });
  await admin.request('ingest', { points: [{ event: event.public_id, value: 21.5 }] });
  await admin.request('rules.create', { name: 'hall too hot', event_public_id: event.public_id, operator: 'gt', threshold: 35 });
  await admin.request('firmware_updates.create', { version: '1.0.0', release_notes: 'first' });
  const instance = await admin.request<{ public_id: string }>('plugin_instances.create', { plugin_id: 'sim', instance_name: 'hall-sensor' });
  await admin.request('channel_mappings.create', { plugin_instance_public_id: instance.public_id, channel_id: 't0', event_public_id: event.public_id });
  await admin.request('api_tokens.create', { name: 'hall key', plugin_instance_public_id: instance.public_id });
  await admin.request('log_entries.create', { content: 'seeded entry', logging_type: 'warning' });
  await admin.close();
});
afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

async function navLinks(page: Page): Promise<string[]> {
  return page.locator('nav[aria-label=sections] a').evaluateAll((links) => links.map((a) => (a.getAttribute('href') ?? '').replace('#/', '')));
}

async function writeButtons(page: Page, path: string): Promise<string[]> {
  const labels = await page.locator(`#page-${path} button`).allTextContents();
  return labels.map((l) => l.trim()).filter((l) => WRITE_BUTTONS.test(l));
}

describe.runIf(CAN_RUN)('operator pages by role and screen', () => {
  it('serves the app under the CSP, and every page loads without console errors at 1280 px and at phone width, in both themes', async () => {
    const res = await fetch(`${h.baseUrl}/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');

    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    // CSP violations are console errors in Chromium: collected by the session, expected none.
    expect(await navLinks(page)).toEqual(['', 'dashboards', ...PAGES.slice(0, 3), 'rules', 'webhooks', 'firmware', 'plugins', 'tokens', 'users', 'log']);
    for (const path of PAGES) {
      await openPage(page, path);
      await screenshot(page, `${path}-admin-1280`);
    }
    await page.setViewportSize(PHONE);
    for (const path of PAGES) {
      await openPage(page, path);
      // Nothing wider than the screen but the tables' own scrolling boxes.
      expect(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
      await screenshot(page, `${path}-admin-phone`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    const theme = await page.evaluate<string>('document.documentElement.dataset.theme');
    await page.click('header button[title="switch theme"]');
    await expect.poll(() => page.evaluate<string>('document.documentElement.dataset.theme')).toBe(theme === 'dark' ? 'light' : 'dark');
    await openPage(page, 'events');
    await screenshot(page, `events-admin-${theme === 'dark' ? 'light' : 'dark'}`);
    s.expectNoErrors();
    await s.close();
  }, 180_000);

  it('shows a viewer no edit controls and no admin pages, and answers a 403 with a line', async () => {
    const viewer = await h.userWithRole('viewer');
    const s = await logIn(browser, h.baseUrl, viewer.user.username as string, viewer.password);
    const { page } = s;
    const links = await navLinks(page);
    expect(links).not.toContain('users');
    expect(links).not.toContain('webhooks');
    for (const path of PAGES.filter((p) => !ADMIN_ONLY.includes(p))) {
      await openPage(page, path);
      expect(await page.locator(`#page-${path} form:not(#datapoints-form)`).count(), `${path}: forms`).toBe(0);
      expect(await writeButtons(page, path), `${path}: write buttons`).toEqual([]);
      expect(await page.locator(`#page-${path} input[type=file]`).count()).toBe(0);
      await screenshot(page, `${path}-viewer`);
    }
    // The seeded rows are there (so their controls would have shown): read access works.
    await openPage(page, 'events');
    await page.locator('#events-table tbody tr', { hasText: 'hall temp' }).waitFor({ timeout: WAIT });
    await openPage(page, 'experiments');
    await page.locator('#experiments-table tr.highlight', { hasText: 'baseline run' }).waitFor({ timeout: WAIT });
    await expect.poll(() => page.locator('#experiments-table a:has-text("CSV")').count()).toBe(1);

    // By address anyway: the users page says who may; the webhooks page shows the hub's 403.
    await page.goto(`${h.baseUrl}/#/users`);
    await page.getByText('Only admins manage users.').waitFor({ timeout: WAIT });
    await page.goto(`${h.baseUrl}/#/webhooks`);
    await expect.poll(() => page.locator('#page-webhooks [role=alert]').first().textContent(), { timeout: WAIT }).toContain('Not allowed for your role');
    expect(await page.locator('#page-webhooks form').count()).toBe(0);
    await expect.poll(() => page.textContent('#status')).toBe('connected');
    await screenshot(page, 'webhooks-viewer-403');
    s.expectNoErrors();
    await s.close();
  }, 120_000);

  it('lets an operator write events, experiments, rules and the log, but not admin things', async () => {
    const operator = await h.userWithRole('operator');
    const s = await logIn(browser, h.baseUrl, operator.user.username as string, operator.password);
    const { page } = s;
    const links = await navLinks(page);
    expect(links).not.toContain('users');
    expect(links).not.toContain('webhooks');
    for (const [path, form] of [['events', '#event-form'], ['experiments', '#experiment-form'], ['rules', '#rule-form']] as const) {
      await openPage(page, path);
      expect(await page.locator(form).count(), path).toBe(1);
    }
    await openPage(page, 'log');
    await page.locator('#page-log button:has-text("Mark all read")').waitFor({ timeout: WAIT });
    for (const path of ['firmware', 'plugins', 'tokens']) {
      await openPage(page, path);
      expect(await page.locator(`#page-${path} form`).count(), path).toBe(0);
      expect(await writeButtons(page, path), path).toEqual([]);
    }
    s.expectNoErrors();
    await s.close();
  }, 120_000);

  it('reaches a form by keyboard alone', async () => {
    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    await openPage(page, 'events');
    await page.locator('nav[aria-label=sections] a[href="#/events"]').focus();
    // Tab from the header into the page: the form's name field comes before its button.
    let reached = '';
    for (let i = 0; i < 40 && reached !== 'name'; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate<string>("document.activeElement?.name ?? ''");
    }
    expect(reached).toBe('name');
    await page.keyboard.type('typed by keyboard');
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate<string | null>('document.activeElement?.textContent')) === 'Create') break;
    }
    expect(await page.evaluate<string | null>('document.activeElement?.textContent')).toBe('Create');
    await page.keyboard.press('Enter');
    const typed = page.locator('#events-table tbody tr', { hasText: 'typed by keyboard' });
    await typed.waitFor({ timeout: WAIT });
    // Delete by keyboard: the question's "Yes" takes the focus, Enter answers it.
    await typed.locator('button:has-text("Delete")').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate<string | null>('document.activeElement?.textContent')).toBe('Yes, delete');
    await page.keyboard.press('Enter');
    await expect.poll(() => typed.count(), { timeout: WAIT }).toBe(0);
    s.expectNoErrors();
    await s.close();
  }, 90_000);

  it('returns to the login form, saying why, when the session is revoked (1008)', async () => {
    const operator = await h.userWithRole('operator');
    const s = await logIn(browser, h.baseUrl, operator.user.username as string, operator.password);
    const { page } = s;
    const token = await page.evaluate<string | null>("sessionStorage.getItem('hub-token')");
    const res = await fetch(`${h.baseUrl}/api/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    await page.locator('#login').waitFor({ timeout: WAIT });
    await expect.poll(() => page.textContent('#message'), { timeout: WAIT }).toContain('session ended');
    expect(await page.evaluate<string | null>("sessionStorage.getItem('hub-token')")).toBeNull();
    expect(await page.locator('nav[aria-label=sections]').count()).toBe(0);
    s.expectNoErrors();
    await s.close();
  }, 90_000);
});
