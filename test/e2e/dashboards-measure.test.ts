/**
 * Two measurements of the dashboards in a real Chromium, printed one line each (issue 12):
 *
 * 1. From navigation to a 12-widget dashboard fully drawn with history (aim < 1 s): the page is
 *    reloaded (its token is in sessionStorage, so it logs in again by itself); each widget stamps
 *    `data-drawn` with `performance.now()` (ms since the navigation started) in the frame that
 *    first draws its data (charts: all their history); the figure is the latest stamp. Included:
 *    loading the scripts, opening the socket, `auth.me`, the dashboard, every history query.
 * 2. Main-thread busy time while 20 widgets each receive 10 points a second (aim < 20 %): the
 *    renderer's `TaskDuration` from the DevTools protocol (`Performance.getMetrics`, the sum of
 *    every main-thread task: script, style, layout, paint) over 10 s of wall time. The points are
 *    ingested by the test, 20 each 100 ms, so the page gets 200 pushes a second.
 *
 * The machine is small and shared: these print figures and assert only generous bounds (a
 * measurement that fails only on a slow day helps no one). The figures go in the README.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../support/hub.js';
import { CAN_RUN, eventWithHistory, launchChromium, logIn, openDashboard, screenshot, waitDrawn, type Session } from './dashboards-support.js';

type Rec = Record<string, any>;
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

/** A dashboard of `types.length` widgets, 4 a row, each on its own event of `events`. */
async function dashboard(name: string, events: string[], types: string[]): Promise<string> {
  const d = await admin.request<Rec>('dashboards.create', { name });
  for (const [i, type] of types.entries()) {
    await admin.request('dashboard_widgets.create', {
      dashboard_public_id: d.public_id,
      widget_type: type,
      title: `${type} ${i}`,
      event_public_id: events[i % events.length],
      x: (i % 4) * 3,
      y: Math.floor(i / 4) * 2,
      w: 3,
      h: 2,
      config: {},
    });
  }
  return d.public_id as string;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

describe.runIf(CAN_RUN)('dashboard measurements', () => {
  it('prints the time from navigation to a 12-widget dashboard drawn with its history', async () => {
    // 8 line charts over 20 minutes of history (1200 points each), 2 stat cards, 2 gauges.
    const events: string[] = [];
    for (let i = 0; i < 8; i++) events.push(await eventWithHistory(admin, `history-${i}`, 1200, 20 * 60_000, (k) => 50 + 10 * Math.sin((k + i * 40) / 60)));
    const types = [...Array<string>(8).fill('line_chart'), 'stat_card', 'stat_card', 'gauge', 'gauge'];
    const id = await dashboard('Twelve', events, types);
    await openDashboard(s.page, id, 12);
    const runs: number[] = [];
    for (let run = 0; run < 3; run++) {
      await s.page.reload();
      await waitDrawn(s.page, 12);
      const stamps = await s.page.locator('.grid-stack-item [data-drawn]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-drawn'))));
      runs.push(Math.max(...stamps));
    }
    const rows = await s.page.locator('[data-chart]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-rows'))));
    expect(rows.every((r) => r > 100)).toBe(true);
    await screenshot(s.page, 'dashboards-twelve');
    console.log(`dashboard: navigation to 12 widgets drawn with history: median ${median(runs)} ms (runs ${runs.join(', ')} ms; aim < 1000 ms)`);
    expect(median(runs)).toBeLessThan(15_000);
  }, 180_000);

  it('prints the main-thread busy time while 20 widgets receive 10 points a second each', async () => {
    const events: string[] = [];
    for (let i = 0; i < 20; i++) events.push((await admin.request<Rec>('events.create', { name: `busy-${i}`, unit: 'V', min_value: 0, max_value: 100 })).public_id);
    const types = [...Array<string>(16).fill('line_chart'), 'stat_card', 'stat_card', 'gauge', 'gauge'];
    const id = await dashboard('Twenty', events, types);
    await openDashboard(s.page, id, 20);

    let pushes = 0;
    s.page.on('websocket', (ws) => ws.on('framereceived', (f) => {
      if (typeof f.payload === 'string' && f.payload.startsWith('{"op":"readings"')) pushes++;
    }));
    // The page's socket is already open: count its pushes from here by reloading once.
    await s.page.reload();
    await waitDrawn(s.page, 20);
    let k = 0;
    const feed = setInterval(() => {
      const ts = Date.now();
      k++;
      admin.request('ingest', { points: events.map((event, i) => ({ event, value: 50 + 40 * Math.sin((k + i * 7) / 20), ts })) }).catch(() => undefined);
    }, 100);
    try {
      await new Promise((r) => setTimeout(r, 3000)); // warm up: live since 3 s
      const cdp = await s.page.context().newCDPSession(s.page);
      await cdp.send('Performance.enable');
      const metric = async (): Promise<{ task: number; at: number }> => {
        const { metrics } = await cdp.send('Performance.getMetrics');
        const get = (name: string): number => metrics.find((m) => m.name === name)?.value ?? 0;
        return { task: get('TaskDuration'), at: get('Timestamp') };
      };
      const pushesBefore = pushes;
      const a = await metric();
      await new Promise((r) => setTimeout(r, 10_000));
      const b = await metric();
      const seconds = b.at - a.at;
      const busy = (b.task - a.task) / seconds;
      const rate = (pushes - pushesBefore) / seconds;
      await screenshot(s.page, 'dashboards-twenty-live');
      console.log(
        `dashboard: main-thread busy ${(busy * 100).toFixed(1)} % of each second (CDP TaskDuration over ${seconds.toFixed(1)} s) while 20 widgets receive 10 points/s each (${rate.toFixed(0)} pushes/s; aim < 20 %)`,
      );
      // The load was real (200 pushes a second were sent; a busy machine may deliver fewer).
      expect(rate).toBeGreaterThan(50);
      expect(busy).toBeLessThan(0.9);
      // Every chart kept up: its newest point is seconds old, not minutes.
      const newest = await s.page.locator('[data-chart]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-last-ts'))));
      expect(newest.every((ts) => Date.now() - ts < 10_000)).toBe(true);
      expect(s.errors).toEqual([]);
    } finally {
      clearInterval(feed);
    }
  }, 180_000);
});
