/**
 * Single sign-on in a real Chromium: the page's "Sign in with …" button, the provider's own login
 * form, back in the hub with the socket connected and the role the provider's claim maps to.
 * @see PROTOCOL.md §17
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../support/hub.js';
import { freePort, startTestProvider, type TestProvider } from '../support/oidc-provider.js';

const CHROMIUM = '/usr/bin/chromium';
let h: TestHub;
let op: TestProvider;
let browser: Browser;

beforeAll(async () => {
  const port = await freePort();
  op = await startTestProvider(`http://127.0.0.1:${port}/api/auth/sso/callback`, {
    ivan: { email: 'ivan@lab.example', email_verified: true, preferred_username: 'ivan', groups: ['hub-operators'] },
  });
  h = await startTestHub({
    HUB_PORT: String(port),
    HUB_OIDC_ISSUER: op.issuer,
    HUB_OIDC_CLIENT_ID: op.clientId,
    HUB_OIDC_CLIENT_SECRET: op.clientSecret,
    HUB_OIDC_ROLE_CLAIM: 'groups',
    HUB_OIDC_ROLE_MAP: 'hub-operators=operator',
    HUB_OIDC_PROVIDER_NAME: 'Lab SSO',
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});
afterAll(async () => {
  await browser?.close();
  await h?.stop();
  await op?.stop();
});

describe.runIf(existsSync(CHROMIUM))('Sign in with the OpenID provider (the web page)', () => {
  it('goes to the provider\'s form and back, exchanges the code and connects the socket', async () => {
    const admin = await h.connect(h.adminToken);
    await admin.request('events.create', { name: 'kiln', unit: 'C' });
    await admin.close();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    expect((await page.goto(h.baseUrl))?.status()).toBe(200);
    await page.click('text=Sign in with Lab SSO');
    // The provider's own login page (oidc-provider's form), on its own origin.
    await page.waitForURL((url) => url.origin === op.issuer, { timeout: 10_000 });
    await page.fill('input[name=login]', 'ivan');
    await page.fill('input[name=password]', 'anything');
    await page.click('button[type=submit]');
    // Back in the hub: the code is exchanged and taken off the address bar; the socket connects.
    await page.waitForURL((url) => url.origin === h.baseUrl, { timeout: 10_000 });
    await expect.poll(() => page.textContent('#status'), { timeout: 10_000 }).toBe('connected');
    await page.getByText('kiln (C)').waitFor({ timeout: 10_000 });
    expect(new URL(page.url()).hash).toBe('');
    const token = await page.evaluate<string | null>("sessionStorage.getItem('hub-token')");
    expect(token).toBeTruthy();
    const me = await h.connect(token as string);
    expect(await me.request('auth.me', {})).toMatchObject({ user: { username: 'ivan' }, role: 'operator' });
    await me.close();
    expect(errors).toEqual([]);
    await page.close();
  });
});
