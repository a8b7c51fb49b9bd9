/**
 * What the dashboards' browser tests share: Debian's Chromium through playwright-core, a login
 * through the form in a fresh context, console errors collected, the websocket requests the page
 * sends, screenshots under test-artifacts/screenshots/, and history seeded through `ingest`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';

export const CHROMIUM = '/usr/bin/chromium';
export const BUILT = existsSync(new URL('../../dist/webapp/index.html', import.meta.url));
export const CAN_RUN = BUILT && existsSync(CHROMIUM);
export const SCREENSHOTS = 'test-artifacts/screenshots';
export const DESKTOP = { width: 1280, height: 900 };
/** Generous: the machine is small and shared; none of these waits is a timing under test. */
export const WAIT = 20_000;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

export interface SentRequest {
  op: string;
  data: Record<string, unknown>;
  at: number;
}

export interface Session {
  page: Page;
  /** Console errors and uncaught exceptions of the page, in order. */
  errors: string[];
  /** Every request the page sent on its websocket (JSON frames), in order. */
  sent: SentRequest[];
  close(): Promise<void>;
}

/** Opens the app in a fresh context and logs in through the form; `setup` runs before the page loads. */
export async function logIn(browser: Browser, baseUrl: string, username: string, password: string, viewport = DESKTOP, setup?: (page: Page) => Promise<void>): Promise<Session> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  await setup?.(page);
  const errors: string[] = [];
  const sent: SentRequest[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('websocket', (ws) => {
    ws.on('framesent', (frame) => {
      if (typeof frame.payload !== 'string') return;
      try {
        const m = JSON.parse(frame.payload) as { op?: unknown; data?: unknown };
        if (typeof m.op === 'string') sent.push({ op: m.op, data: (m.data ?? {}) as Record<string, unknown>, at: Date.now() });
      } catch {
        // not a request of ours
      }
    });
  });
  await page.goto(baseUrl);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('#login button');
  await page.locator('#status:text-is("connected")').waitFor({ timeout: WAIT });
  return { page, errors, sent, close: () => context.close() };
}

/** Saves a screenshot as test-artifacts/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = `${SCREENSHOTS}/${name}.png`;
  await page.screenshot({ path, fullPage });
  return path;
}

/** Opens a dashboard by its address and waits until every widget has drawn its first data. */
export async function openDashboard(page: Page, id: string, widgets: number): Promise<void> {
  await page.goto(`${new URL(page.url()).origin}/#/dashboards/${id}`);
  await waitDrawn(page, widgets);
}

/** Waits until `n` widgets have drawn (history loaded for charts, latest value for the others). */
export async function waitDrawn(page: Page, n: number): Promise<void> {
  await expect.poll(() => page.locator('.grid-stack-item [data-drawn]').count(), { timeout: WAIT }).toBe(n);
}

/** The data attributes of the chart of the widget titled `title`. */
export function chartOf(page: Page, title: string) {
  return page.locator('.grid-stack-item', { hasText: title }).locator('[data-chart]');
}

/** Creates an event and stores `points` for it spread over the last `spanMs` (newest just now). */
export async function eventWithHistory(
  admin: HubClient,
  name: string,
  points: number,
  spanMs: number,
  value: (i: number) => number = (i) => 20 + 5 * Math.sin(i / 20),
  extra: Record<string, unknown> = {},
): Promise<string> {
  const event = await admin.request<{ public_id: string }>('events.create', { name, unit: 'C', ...extra });
  const now = Date.now();
  const all = Array.from({ length: points }, (_, i) => ({ event: event.public_id, value: value(i), ts: now - spanMs + ((i + 1) * spanMs) / points - 1 }));
  for (let i = 0; i < all.length; i += 5000) await admin.request('ingest', { points: all.slice(i, i + 5000) });
  return event.public_id;
}
