/**
 * The web app in a real Chromium, and how the hub serves it: strict CSP (no 'unsafe-inline'),
 * ETags, long cache only for hashed names, precompressed bodies; log in, see a reading, create a
 * dashboard with a widget, reload, and find the widget where it was left.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../support/hub.js';

const CHROMIUM = '/usr/bin/chromium';
const BUILT = existsSync(new URL('../../dist/webapp/index.html', import.meta.url));
let h: TestHub;
let browser: Browser;

beforeAll(async () => {
  h = await startTestHub();
  if (existsSync(CHROMIUM)) {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  }
});
afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

describe.runIf(BUILT)('the built web app over HTTP', () => {
  it('serves the page and its files under a strict CSP, with ETags and precompressed bodies', async () => {
    const res = await fetch(`${h.baseUrl}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/<script>|<style>|\son[a-z]+=/i);
    const etag = res.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await fetch(`${h.baseUrl}/`, { headers: { 'if-none-match': etag as string } });
    expect(again.status).toBe(304);

    const js = await fetch(`${h.baseUrl}/app.js`, { headers: { 'accept-encoding': 'br, gzip' } });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-encoding')).toBe('br');
    expect(js.headers.get('cache-control')).toBe('no-cache');
    expect(js.headers.get('content-security-policy')).toBe(csp);
    const text = await js.text(); // fetch decodes brotli: the body must still be the script
    const chunk = /\/?assets\/[\w-]+-[\w-]{8}\.js/.exec(text)?.[0];
    expect(chunk).toBeTruthy();
    const hashed = await fetch(`${h.baseUrl}/${(chunk as string).replace(/^\//, '')}`);
    expect(hashed.status).toBe(200);
    expect(hashed.headers.get('cache-control')).toContain('immutable');
    expect(hashed.headers.get('content-type')).toContain('text/javascript');
  });
});

describe.runIf(BUILT && existsSync(CHROMIUM))('dashboards in the web app', () => {
  it('logs in, sees an ingested reading, creates a dashboard with widgets and finds them where they were left after a reload', async () => {
    const admin = await h.connect(h.adminToken);
    const event = await admin.request<{ public_id: string }>('events.create', { name: 'oven', unit: 'C' });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text());
    });
    await page.goto(h.baseUrl);
    await page.fill('input[name=username]', 'admin');
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('#login button');
    await page.getByText('oven (C)').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.textContent('#status')).toBe('connected');
    // The overview subscribes from a minute back: a point ingested meanwhile is replayed.
    await admin.request('ingest', { points: [{ event: event.public_id, value: 17.25 }] });
    await page.getByText('17.25').waitFor({ timeout: 10_000 });

    await page.click('a[href="#/dashboards"]');
    await page.fill('#new-dashboard input[name=name]', 'Kitchen');
    await page.click('#new-dashboard button');
    await page.click('#dashboard-list a:text("Kitchen")');
    await expect.poll(() => page.textContent('#dashboard-name')).toBe('Kitchen');
    const addWidget = async (fields: Record<string, string>, type: string): Promise<void> => {
      await page.click('#add-widget');
      await page.selectOption('#widget-form select[name=widget_type]', type);
      for (const [name, value] of Object.entries(fields)) await page.fill(`#widget-form input[name=${name}]`, value);
      await page.click('#widget-form button[type=submit]');
      await page.getByText(fields['title'] as string).waitFor({ timeout: 10_000 });
    };
    await addWidget({ title: 'Oven now', x: '4', y: '1', w: '3', h: '2' }, 'stat_card');
    await addWidget({ title: 'Oven chart', y: '3', w: '6' }, 'line_chart');
    await page.locator('.grid-stack-item canvas').first().waitFor({ timeout: 10_000 });

    await page.reload();
    await page.getByText('Oven now').waitFor({ timeout: 10_000 });
    const stat = page.locator('.grid-stack-item', { hasText: 'Oven now' });
    const layout = await stat.evaluate((el) => ['gs-x', 'gs-y', 'gs-w', 'gs-h'].map((a) => el.getAttribute(a)));
    expect(layout).toEqual(['4', '1', '3', '2']);
    // Drawn on the 12 columns: 3 of 12 columns wide, starting a third of the way across.
    const grid = await page.locator('.grid-stack').boundingBox();
    const box = await stat.boundingBox();
    expect(box && grid && Math.round(((box.x - grid.x) / grid.width) * 12)).toBe(4);
    expect(box && grid && Math.round((box.width / grid.width) * 12)).toBe(3);
    await page.getByText('17.25').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: 'test-artifacts/screenshots/web-app-dashboard.png' });

    const stored = await admin.request<{ items: { title: string; x: number; y: number; w: number; h: number }[] }>('dashboard_widgets.list', { page_size: 10 });
    expect(stored.items.find((w) => w.title === 'Oven now')).toMatchObject({ x: 4, y: 1, w: 3, h: 2 });
    expect(errors).toEqual([]);
    await page.close();
    await admin.close();
  });
});
