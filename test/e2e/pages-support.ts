/**
 * What the operator pages' browser tests share: Debian's Chromium through playwright-core, a
 * login through the form, the page's console errors collected, screenshots kept under
 * test-artifacts/screenshots/ (uploaded by CI as artifacts).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM = '/usr/bin/chromium';
export const BUILT = existsSync(new URL('../../dist/webapp/index.html', import.meta.url));
export const CAN_RUN = BUILT && existsSync(CHROMIUM);
export const SCREENSHOTS = 'test-artifacts/screenshots';
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 900 };
/** Generous: the machine is small and shared; none of these waits is a timing under test. */
export const WAIT = 15_000;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

export interface Session {
  page: Page;
  /** Console errors and uncaught exceptions of the page, in order. */
  errors: string[];
  /** Fails the test when the page logged an error. */
  expectNoErrors(): void;
  close(): Promise<void>;
}

/** Opens the app in a fresh context and logs in through the form. */
export async function logIn(browser: Browser, baseUrl: string, username: string, password: string, viewport = DESKTOP): Promise<Session> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  await page.goto(baseUrl);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('#login button');
  await page.locator('nav[aria-label=sections]').waitFor({ timeout: WAIT });
  await expect.poll(() => page.textContent('#status'), { timeout: WAIT }).toBe('connected');
  return {
    page,
    errors,
    expectNoErrors: () => expect(errors).toEqual([]),
    close: () => context.close(),
  };
}

/** Follows the header's link to a page and waits for the page (its list loaded, or its form). */
export async function openPage(page: Page, path: string): Promise<void> {
  await page.click(`nav[aria-label=sections] a[href="#/${path}"]`);
  await page.locator(`#page-${path}`).waitFor({ timeout: WAIT });
  // A page's lists have loaded when no "Loading…" is left.
  await expect.poll(() => page.locator(`#page-${path}`).getByText('Loading…').count(), { timeout: WAIT }).toBe(0);
}

/** Saves a full-page screenshot as test-artifacts/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

/** A table row of `table` holding `text`. */
export function row(page: Page, table: string, text: string) {
  return page.locator(`${table} tbody tr`, { hasText: text });
}
