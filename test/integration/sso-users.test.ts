/**
 * Single sign-on against a real OpenID provider (oidc-provider on 127.0.0.1, plain HTTP: a
 * loopback issuer needs no other setting): who a sign-in is, which role it gets, and what the
 * log and metrics say. @see PROTOCOL.md §17
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { startTestHub, type TestHub } from '../support/hub.js';
import { callHubCallback, codeOf, exchange, freePort, startSignIn, startTestProvider, type TestProvider } from '../support/oidc-provider.js';

let h: TestHub;
let op: TestProvider;
let admin: HubClient;
const logLines: string[] = [];

beforeAll(async () => {
  const port = await freePort();
  const redirect = `http://127.0.0.1:${port}/api/auth/sso/callback`;
  op = await startTestProvider(redirect, {
    alice: { email: 'alice@lab.example', email_verified: true, preferred_username: 'alice', groups: ['hub-operators'] },
    bob: { email: 'bob@lab.example', email_verified: true, preferred_username: 'bob', groups: ['hub-admins'] },
    carol: { email: 'carol@lab.example', email_verified: true, preferred_username: 'carol-sso' },
    mallory: { email: 'dave@lab.example', email_verified: false, preferred_username: 'mallory' },
    eve: { email: 'eve@elsewhere.example', email_verified: true },
  });
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  });
  h = await startTestHub(
    {
      HUB_PORT: String(port),
      HUB_LOG_LEVEL: 'debug',
      HUB_OIDC_ISSUER: op.issuer,
      HUB_OIDC_CLIENT_ID: op.clientId,
      HUB_OIDC_CLIENT_SECRET: op.clientSecret,
      HUB_OIDC_ROLE_CLAIM: 'groups',
      HUB_OIDC_ROLE_MAP: 'hub-admins=admin,hub-operators=operator',
      HUB_OIDC_ALLOWED_DOMAINS: 'lab.example',
      HUB_OIDC_PROVIDER_NAME: 'Lab SSO',
    },
    logs,
  );
  admin = await h.connect(h.adminToken);
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
  await op?.stop();
});

/** A whole sign-in: the hub's login, the provider's form, the callback, the exchange. */
async function signIn(login: string): Promise<{ access_token: string; user: { public_id: string; username: string; role: string } }> {
  const attempt = await startSignIn(h.baseUrl, op, login);
  const callback = await callHubCallback(attempt.back, attempt.cookie);
  expect(callback.status, await callback.clone().text()).toBe(302);
  const res = await exchange(h.baseUrl, codeOf(callback));
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

describe('SSO sign-in', () => {
  it('redirects to the provider with code + PKCE S256, state and nonce, and a short-lived HttpOnly SameSite=Lax cookie', async () => {
    const res = await fetch(`${h.baseUrl}/api/auth/sso/login`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const to = new URL(res.headers.get('location') ?? '');
    expect(to.origin).toBe(op.issuer);
    expect(to.searchParams.get('response_type')).toBe('code');
    expect(to.searchParams.get('code_challenge_method')).toBe('S256');
    expect(to.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(to.searchParams.get('state')).toMatch(/^[\w-]{20,}$/);
    expect(to.searchParams.get('nonce')).toMatch(/^[\w-]{20,}$/);
    expect(to.searchParams.get('redirect_uri')).toBe(`${h.baseUrl}/api/auth/sso/callback`);
    const [cookie = ''] = res.headers.getSetCookie();
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).not.toMatch(/Secure/); // the redirect URL is http (loopback)
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)?.[1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(600);
  });

  it('creates a new user with the role the claim maps to, SSO-only (no password login)', async () => {
    const body = await signIn('alice');
    expect(body.user).toMatchObject({ username: 'alice', role: 'operator' });
    const record = await admin.request<Record<string, unknown>>('users.get', { public_id: body.user.public_id });
    expect(record).toMatchObject({ email: 'alice@lab.example', role: 'operator', sso_linked: true, password_login: false });
    expect(record).not.toHaveProperty('oidc_subject');
    expect(record).not.toHaveProperty('oidc_issuer');
    // The token works on the socket.
    const socket = await h.connect(body.access_token);
    expect((await socket.request<{ role: string }>('auth.me', {})).role).toBe('operator');
    await socket.close();
  });

  it('matches a returning user by the provider\'s subject, even after a change of email at the provider', async () => {
    const first = await signIn('carol');
    op.accounts.set('carol', { ...op.accounts.get('carol'), email: 'carol.new@lab.example' });
    const second = await signIn('carol');
    expect(second.user.public_id).toBe(first.user.public_id);
    expect(second.user.role).toBe('viewer'); // no group claim: the default role
  });

  it('links an existing local user by verified email, who keeps password login', async () => {
    const local = await admin.request<{ public_id: string }>('users.create', {
      username: 'bob-local',
      password: 'bob-local-password',
      email: 'Bob@lab.example',
      role: 'viewer',
    });
    const body = await signIn('bob');
    expect(body.user).toMatchObject({ public_id: local.public_id, username: 'bob-local', role: 'admin' });
    expect(await h.login('bob-local', 'bob-local-password')).toBeTruthy();
    // An admin closes the password door for this SSO-linked user.
    await admin.request('users.update', { public_id: local.public_id, password_login: false });
    const refused = await fetch(`${h.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bob-local', password: 'bob-local-password' }),
    });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/single sign-on/);
    // …and SSO still works.
    expect((await signIn('bob')).user.public_id).toBe(local.public_id);
  });

  it('refuses to link by an email the provider has not verified', async () => {
    await admin.request('users.create', { username: 'dave', password: 'dave-password-1', email: 'dave@lab.example' });
    const attempt = await startSignIn(h.baseUrl, op, 'mallory');
    const callback = await callHubCallback(attempt.back, attempt.cookie);
    expect(callback.status).toBe(403);
    expect(callback.headers.get('location')).toBeNull();
    expect(((await callback.json()) as { error: { code: string } }).error.code).toBe('forbidden');
  });

  it('refuses an email domain outside HUB_OIDC_ALLOWED_DOMAINS', async () => {
    const attempt = await startSignIn(h.baseUrl, op, 'eve');
    const callback = await callHubCallback(attempt.back, attempt.cookie);
    expect(callback.status).toBe(403);
  });

  it('never links the first admin, a local account', async () => {
    const [me] = (await admin.request<{ items: { public_id: string }[] }>('users.list', { filter: { username: 'admin' } })).items;
    await admin.request('users.update', { public_id: me?.public_id, email: 'root@lab.example' });
    op.accounts.set('root', { email: 'root@lab.example', email_verified: true, groups: ['hub-admins'] });
    const attempt = await startSignIn(h.baseUrl, op, 'root');
    expect((await callHubCallback(attempt.back, attempt.cookie)).status).toBe(403);
    expect(await h.login('admin', 'admin-password-for-tests')).toBeTruthy();
  });

  it('applies a role change at the provider at the next sign-in and closes the user\'s open sockets with 1008', async () => {
    op.accounts.set('frank', { email: 'frank@lab.example', email_verified: true, groups: ['hub-admins', 'hub-operators'] });
    const first = await signIn('frank');
    expect(first.user.role).toBe('admin');
    const socket = await h.connect(first.access_token);
    const closed = socket.closed.then(({ code }) => code);
    op.accounts.set('frank', { email: 'frank@lab.example', email_verified: true, groups: ['hub-operators'] });
    const second = await signIn('frank');
    expect(second.user).toMatchObject({ public_id: first.user.public_id, role: 'operator' });
    expect(await closed).toBe(1008);
    const record = await admin.request<{ role: string }>('users.get', { public_id: first.user.public_id });
    expect(record.role).toBe('operator');
    // Out of every mapped group: the default role.
    op.accounts.set('frank', { email: 'frank@lab.example', email_verified: true, groups: [] });
    expect((await signIn('frank')).user.role).toBe('viewer');
  });

  it('writes log entries and metrics for sign-ins and refusals', async () => {
    const entries = await admin.request<{ items: { content: string }[] }>('log_entries.list', { page_size: 500 });
    const contents = entries.items.map((e) => e.content);
    expect(contents).toContain('User "alice" signed in through SSO (created)');
    expect(contents.some((c) => c.startsWith('User "bob-local" signed in through SSO (linked)'))).toBe(true);
    expect(contents.some((c) => /role admin → operator from the provider/.test(c))).toBe(true);
    expect(contents).toContain('SSO sign-in refused: "email_not_verified"');
    expect(contents).toContain('SSO sign-in refused: "domain_not_allowed"');
    const metrics = await (await fetch(`${h.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/hub_sso_logins_total\{outcome="created",reason=""\} [1-9]/);
    expect(metrics).toMatch(/hub_sso_logins_total\{outcome="refused",reason="email_not_verified"\} 1/);
  });

  it('shows "Sign in with …" on the web page', async () => {
    const page = await (await fetch(h.baseUrl)).text();
    // The web app draws the button from the provider's name in the page (test/e2e/sso.test.ts
    // clicks it); the minimal built-in page, served when the app is not built, has it in its HTML.
    expect(page).toMatch(/<meta name="hub-sso" content="Lab SSO">|href="\/api\/auth\/sso\/login">Sign in with Lab SSO<\/a>/);
  });

  it('puts no token, code or secret in the hub\'s log', async () => {
    // One more sign-in whose every secret piece is known to the test.
    const attempt = await startSignIn(h.baseUrl, op, 'alice');
    const callback = await callHubCallback(attempt.back, attempt.cookie);
    const code = codeOf(callback);
    const body = (await (await exchange(h.baseUrl, code)).json()) as { access_token: string };
    await exchange(h.baseUrl, code); // refused: logged
    const log = logLines.join('');
    expect(log).toMatch(/sso sign-in/);
    for (const secret of [
      op.clientSecret,
      code,
      body.access_token,
      attempt.back.searchParams.get('code') ?? 'none',
      attempt.back.searchParams.get('state') ?? 'none',
      attempt.cookie.split('=')[1] ?? 'none',
    ]) {
      expect(secret.length).toBeGreaterThan(10);
      expect(log).not.toContain(secret);
    }
  });
});
