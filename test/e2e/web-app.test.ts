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
const BUILT = existsSync(new URL('../../dist/web/index.html', import.meta.url));
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
