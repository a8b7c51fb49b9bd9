/** The built-in dashboard in a real Chromium: log in, see an event, watch a reading arrive live. */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../support/hub.js';

const CHROMIUM = '/usr/bin/chromium';
let h: TestHub;
let browser: Browser;

beforeAll(async () => {
  h = await startTestHub();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});
afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

describe.runIf(existsSync(CHROMIUM))('GET / (the live dashboard)', () => {
  it('logs in, lists the events and shows a reading as it is ingested', async () => {
    const admin = await h.connect(h.adminToken);
    const event = await admin.request<{ public_id: string }>('events.create', { name: 'boiler', unit: 'C' });
    const page = await browser.newPage();
    const res = await page.goto(h.baseUrl);
    expect(res?.status()).toBe(200);
    await page.fill('input[name=username]', 'admin');
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('#login button');
    await page.getByText('boiler (C)').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.textContent('#status')).toBe('connected');
    // The overview subscribes from a minute back: a point ingested meanwhile is replayed.
    await admin.request('ingest', { points: [{ event: event.public_id, value: 42.5 }] });
    await page.getByText('42.5').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: 'test-artifacts/screenshots/overview.png' });
    await admin.close();
  });
});
