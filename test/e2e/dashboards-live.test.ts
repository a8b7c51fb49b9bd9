/**
 * Dashboards live, in a real Chromium: a line chart draws a point within 1 s of its ingest; a
 * 7-day range is drawn from buckets sized to the chart's pixels (the query on the wire says so),
 * zoomed by a drag and back by a double-click; an actuator's click reaches a device socket
 * subscribed to its event, and the widget shows what the device reports back.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../support/hub.js';
import { CAN_RUN, chartOf, eventWithHistory, launchChromium, logIn, openDashboard, screenshot, WAIT, type Session } from './dashboards-support.js';

type Rec = Record<string, any>;
const DAY = 86_400_000;
let h: TestHub;
let browser: Browser;
let admin: HubClient;
let s: Session;

beforeAll(async () => {
  if (!CAN_RUN) return;
  h = await startTestHub();
  admin = await h.connect(h.adminToken);
  browser = await launchChromium();
  s = await logIn(browser, h.baseUrl, 'admin', ADMIN_PASSWORD);
});
afterAll(async () => {
  await s?.close();
  await browser?.close();
  await admin?.close();
  await h?.stop();
});

async function dashboard(name: string, widgets: Rec[]): Promise<string> {
  const d = await admin.request<Rec>('dashboards.create', { name });
  for (const w of widgets) await admin.request('dashboard_widgets.create', { dashboard_public_id: d.public_id, ...w });
  return d.public_id as string;
}

/** What the page script below uses of the DOM (this project's tests compile without the DOM lib). */
interface PageGlobals {
  document: { querySelector(selector: string): { getAttribute(name: string): string | null } | null };
  MutationObserver: new (callback: () => void) => { observe(target: unknown, options: unknown): void; disconnect(): void };
}

/** Resolves (in the page) with Date.now() at the moment `selector`'s `attr` becomes `value`. */
function seenAt(page: Page, selector: string, attr: string, value: string): Promise<number> {
  return page.evaluate(
    ([sel, a, v]) =>
      new Promise<number>((resolve) => {
        const g = globalThis as unknown as PageGlobals;
        const el = g.document.querySelector(sel as string);
        if (el === null) throw new Error(`no ${sel as string}`);
        const check = (): boolean => {
          if (el.getAttribute(a as string) !== v) return false;
          resolve(Date.now());
          return true;
        };
        if (check()) return;
        const watch = new g.MutationObserver(() => {
          if (check()) watch.disconnect();
        });
        watch.observe(el, { attributes: true, attributeFilter: [a as string] });
      }),
    [selector, attr, value],
  );
}

describe.runIf(CAN_RUN)('live dashboards in the web app', () => {
  it('draws an ingested point on a line chart within 1 s', async () => {
    const event = await eventWithHistory(admin, 'line', 120, 10 * 60_000);
    const id = await dashboard('Live', [{ widget_type: 'line_chart', title: 'Line', event_public_id: event, x: 0, y: 0, w: 8, h: 4, config: {} }]);
    await openDashboard(s.page, id, 1);
    const latencies: number[] = [];
    for (const value of [101.5, 102.25, 103.125]) {
      const seen = seenAt(s.page, '[data-chart]', 'data-last-value', String(value));
      const sent = Date.now();
      await admin.request('ingest', { points: [{ event, value }] });
      latencies.push((await seen) - sent);
    }
    console.log(`line chart: ingest to drawn ${latencies.map((l) => `${l} ms`).join(', ')}`);
    // Live redraws are paced (at most two a second after the first): the median says it.
    expect([...latencies].sort((a, b) => a - b)[1]).toBeLessThan(1000);
    expect(Number(await chartOf(s.page, 'Line').getAttribute('data-rows'))).toBeGreaterThan(1);
  }, 120_000);

  it('draws 7 days from buckets sized to the pixels, zooms by a drag and goes back by a double-click', async () => {
    // One point every 5 minutes for 7 days: 2016 points.
    const event = await eventWithHistory(admin, 'week', 2016, 7 * DAY, (i) => 10 + 8 * Math.sin(i / 144));
    const id = await dashboard('Week', [{ widget_type: 'line_chart', title: 'Week', event_public_id: event, x: 0, y: 0, w: 12, h: 4, config: { window_ms: 20 * 60_000 } }]);
    await openDashboard(s.page, id, 1);
    const chart = chartOf(s.page, 'Week');
    const before = s.sent.length;
    await s.page.selectOption('select[name=range]', { label: '7 d' });
    const queries = (): Rec[] => s.sent.slice(before).filter((m) => m.op === 'datapoints.query' && m.data.event_public_id === event).map((m) => m.data);
    await expect.poll(() => queries().length, { timeout: WAIT }).toBe(1);
    const q = queries()[0] as Rec;
    expect(q.to - q.from).toBe(7 * DAY);
    expect(Math.abs(q.to - Date.now())).toBeLessThan(60_000);
    const width = (await chart.boundingBox())!.width;
    // About one bucket per two pixels, whole seconds.
    expect(q.bucket_ms).toBeGreaterThanOrEqual((7 * DAY) / width);
    expect(q.bucket_ms).toBeLessThanOrEqual((7 * DAY) / (width / 4));
    await expect.poll(() => chart.getAttribute('data-bucket-ms'), { timeout: WAIT }).toBe(String(q.bucket_ms));
    await expect.poll(async () => Number(await chart.getAttribute('data-rows')), { timeout: WAIT }).toBeGreaterThan(100);
    // Buckets, not the 2016 raw points.
    expect(Number(await chart.getAttribute('data-rows'))).toBeLessThan(1000);
    await screenshot(s.page, 'dashboards-7-days');

    // Drag across the middle third: finer buckets for that span.
    const over = (await s.page.locator('.u-over').boundingBox())!;
    const y = over.y + over.height / 2;
    await s.page.mouse.move(over.x + over.width / 3, y);
    await s.page.mouse.down();
    await s.page.mouse.move(over.x + (2 * over.width) / 3, y, { steps: 8 });
    await s.page.mouse.up();
    await s.page.getByText('double-click to go back').waitFor({ timeout: WAIT });
    await expect.poll(() => queries().length, { timeout: WAIT }).toBe(2);
    const zoom = queries()[1] as Rec;
    expect(zoom.bucket_ms).toBeLessThan(q.bucket_ms / 2);
    expect(zoom.to - zoom.from).toBeGreaterThan(1.5 * DAY);
    expect(zoom.to - zoom.from).toBeLessThan(3 * DAY);
    await s.page.mouse.dblclick(over.x + over.width / 2, y);
    await expect.poll(() => s.page.getByText('double-click to go back').count(), { timeout: WAIT }).toBe(0);
    expect(s.errors).toEqual([]);
  }, 120_000);

  it('shows a stat card and a gauge stale when no point came for a while, and fresh again with the next', async () => {
    const event = await admin.request<Rec>('events.create', { name: 'quiet', unit: 'bar', min_value: 0, max_value: 10 });
    await admin.request('ingest', { points: [{ event: event.public_id, value: 4.5, ts: Date.now() - 120_000 }] });
    const id = await dashboard('Quiet', [
      { widget_type: 'stat_card', title: 'Quiet stat', event_public_id: event.public_id, x: 0, y: 0, w: 3, h: 2, config: {} },
      { widget_type: 'gauge', title: 'Quiet gauge', event_public_id: event.public_id, x: 3, y: 0, w: 3, h: 2, config: {} },
    ]);
    await openDashboard(s.page, id, 2);
    const stat = s.page.locator('.grid-stack-item', { hasText: 'Quiet stat' });
    const gauge = s.page.locator('.grid-stack-item', { hasText: 'Quiet gauge' });
    await expect.poll(() => stat.locator('.value').getAttribute('class'), { timeout: WAIT }).toBe('value stale');
    expect(await stat.locator('.age').textContent()).toBe('2 min ago');
    expect(await stat.locator('.number').textContent()).toBe('4.5');
    expect(await gauge.locator('.value').getAttribute('class')).toBe('value stale');
    expect(await gauge.locator('.range').textContent()).toBe('010');
    await admin.request('ingest', { points: [{ event: event.public_id, value: 6 }] });
    await expect.poll(() => stat.locator('.value').getAttribute('class'), { timeout: WAIT }).toBe('value');
    expect(await stat.locator('.number').textContent()).toBe('6');
    await expect.poll(() => gauge.locator('.number').textContent(), { timeout: WAIT }).toBe('6');
    expect(s.errors).toEqual([]);
  }, 120_000);

  it("sends an actuator's value to the device subscribed to it, and shows what the device reports back", async () => {
    const valve = await admin.request<Rec>('events.create', { name: 'valve', event_type: 'actuator', min_value: 0, max_value: 1 });
    const damper = await admin.request<Rec>('events.create', { name: 'damper', unit: '%', event_type: 'range', min_value: 0, max_value: 100 });
    const instance = await admin.request<Rec>('plugin_instances.create', { plugin_id: 'vents', instance_name: 'vent-box' });
    for (const [channel, event, direction] of [['valve', valve, 'output'], ['damper', damper, 'bidirectional']] as const) {
      await admin.request('channel_mappings.create', { plugin_instance_public_id: instance.public_id, channel_id: channel, channel_name: channel, direction, event_public_id: event.public_id });
    }
    const { token } = await admin.request<Rec>('api_tokens.create', { name: 'vent-box', plugin_instance_public_id: instance.public_id });
    const device = await h.connect(token);
    const received: Rec[] = [];
    device.onPush((p) => {
      if (p.op === 'readings') received.push(p.data as Rec);
    });
    await device.request('subscribe', { events: [valve.public_id, damper.public_id] });

    const id = await dashboard('Vents', [
      { widget_type: 'actuator_toggle', title: 'Valve', event_public_id: valve.public_id, x: 0, y: 0, w: 3, h: 2, config: {} },
      { widget_type: 'actuator_toggle', title: 'Damper', event_public_id: damper.public_id, x: 3, y: 0, w: 4, h: 2, config: { step: 5 } },
    ]);
    await openDashboard(s.page, id, 2);
    const valveWidget = s.page.locator('.grid-stack-item', { hasText: 'Valve' });
    const toggle = valveWidget.locator('[role=switch]');
    expect(await toggle.getAttribute('aria-checked')).toBe('false');
    await toggle.click();
    await expect.poll(() => received.find((r) => r.event === valve.public_id)?.points.at(-1)?.[1], { timeout: WAIT }).toBe(1);
    await expect.poll(() => toggle.getAttribute('aria-checked'), { timeout: WAIT }).toBe('true');

    // The slider asks for 40; the device can do only 35 and reports that: the widget shows 35.
    const damperWidget = s.page.locator('.grid-stack-item', { hasText: 'Damper' });
    await damperWidget.locator('input[type=range]').fill('40');
    await expect.poll(() => received.filter((r) => r.event === damper.public_id).flatMap((r) => r.points).at(-1)?.[1], { timeout: WAIT }).toBe(40);
    await device.request('ingest', { points: [{ channel: 'damper', value: 35 }] });
    await expect.poll(() => damperWidget.locator('.reported').getAttribute('data-reported'), { timeout: WAIT }).toBe('35');
    expect(await damperWidget.locator('input[type=range]').inputValue()).toBe('35');
    await screenshot(s.page, 'dashboards-actuators');
    await device.close();
    expect(s.errors).toEqual([]);
  }, 120_000);
});
