/**
 * A newcomer's first visit with the demo on (`npm start` has HUB_DEMO on by default): after
 * logging in, the demo dashboard opens by itself and its charts draw live demo readings; later
 * visits stay on the overview, which links the demo dashboard first.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../support/hub.js';
import { CAN_RUN, launchChromium, logIn, screenshot, waitDrawn, WAIT } from './dashboards-support.js';

type Rec = Record<string, any>;
let h: TestHub;
let browser: Browser;
let admin: HubClient;

beforeAll(async () => {
  if (!CAN_RUN) return;
  h = await startTestHub({ HUB_DEMO: '1' });
  admin = await h.connect(h.adminToken);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await admin?.close();
  await h?.stop();
});

describe.runIf(CAN_RUN)('the demo dashboard in the web app', () => {
  it('opens on the first visit and draws the live demo readings', async () => {
    const demo = (await admin.request<Rec>('dashboards.list', { filter: { name: 'Demo', is_global: true } })).items[0];
    expect(demo).toBeDefined();
    const widgets = (await admin.request<Rec>('dashboard_widgets.list', { page_size: 100, filter: { dashboard_public_id: demo.public_id } })).items.length;
    // An hour of readings before now, as if the hub had been running for a while: the charts
    // then show history and live points side by side (and the screenshot looks like a hub in use).
    const events = (await admin.request<Rec>('events.list', { page_size: 100 })).items as Rec[];
    const shape: Record<string, [number, number, number]> = { demo_temperature: [21, 4, 60], demo_pressure: [1013, 6, 300], demo_humidity: [45, 10, 120] };
    const start = Date.now();
    for (const e of events) {
      const s = shape[e.name];
      if (s === undefined) continue;
      const [base, amplitude, periodS] = s;
      const points = Array.from({ length: 1800 }, (_, i) => {
        const ts = start - 3_600_000 + i * 2000;
        return { event: e.public_id, ts, value: Math.round((base + amplitude * Math.sin((2 * Math.PI * ts) / (periodS * 1000)) + (Math.random() - 0.5) * amplitude * 0.1) * 100) / 100 };
      });
      await admin.request('ingest', { points });
    }

    const s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
    const { page } = s;
    await expect.poll(() => new URL(page.url()).hash, { timeout: WAIT }).toBe(`#/dashboards/${demo.public_id}`);
    await expect.poll(() => page.textContent('#dashboard-name'), { timeout: WAIT }).toBe('Demo');
    await waitDrawn(page, widgets);
    // Live: every chart has drawn a point newer than the page's start.
    await expect
      .poll(async () => (await page.locator('[data-chart]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-last-ts'))))).every((ts) => ts > start), { timeout: WAIT })
      .toBe(true);
    const rows = await page.locator('[data-chart]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-rows'))));
    expect(rows.every((r) => r > 100)).toBe(true);
    await expect.poll(() => page.locator('.stat-widget .number').first().textContent(), { timeout: WAIT }).toMatch(/^\d/);
    await screenshot(page, 'dashboard-demo', false);

    // Not the first visit any more: the overview stays, with the demo dashboard linked first.
    await page.goto(`${h.baseUrl}/#/`);
    await page.locator('nav.dashboard-links a.featured', { hasText: 'Demo' }).waitFor({ timeout: WAIT });
    expect(new URL(page.url()).hash).toBe('#/');
    expect(s.errors).toEqual([]);
    await s.close();
  }, 120_000);
});
