/**
 * Every forged or replayed piece of an SSO sign-in is refused with a 4xx and no code: the state,
 * its cookie, the ID token (nonce, issuer, audience, expiry, signature) and the one-time code.
 * The forged ID tokens come from the real provider's token response, re-signed by the test.
 * Also: SSO off answers 404, and the configuration's https rule. @see PROTOCOL.md §17
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startTestHub, type TestHub } from '../support/hub.js';
import {
  callHubCallback,
  codeOf,
  exchange,
  freePort,
  startSignIn,
  startTestProvider,
  type Tamper,
  type TestProvider,
} from '../support/oidc-provider.js';

let h: TestHub;
let op: TestProvider;

beforeAll(async () => {
  const port = await freePort();
  op = await startTestProvider(`http://127.0.0.1:${port}/api/auth/sso/callback`, {
    grace: { email: 'grace@lab.example', email_verified: true, preferred_username: 'grace' },
    heidi: { email: 'heidi@lab.example', email_verified: false },
  });
  h = await startTestHub({
    HUB_PORT: String(port),
    HUB_OIDC_ISSUER: op.issuer,
    HUB_OIDC_CLIENT_ID: op.clientId,
    HUB_OIDC_CLIENT_SECRET: op.clientSecret,
  });
});
afterAll(async () => {
  await h?.stop();
  await op?.stop();
});

/** The hub's answer to a callback whose ID token was re-signed as `tamper` says. */
async function callbackWith(tamper: Tamper): Promise<Response> {
  const attempt = await startSignIn(h.baseUrl, op, 'grace');
  op.tamper = tamper;
  try {
    return await callHubCallback(attempt.back, attempt.cookie);
  } finally {
    op.tamper = undefined;
  }
}

async function expectRefused(res: Response, status = 401): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get('location')).toBeNull();
  const body = (await res.json()) as { error: { status: number; code: string; message: string } };
  expect(body.error.status).toBe(status);
  // The state cookie is spent either way.
  expect(res.headers.getSetCookie().join()).toMatch(/Max-Age=0/);
}

describe('SSO refuses forged and replayed pieces', () => {
  it('accepts the untampered flow (the control for every case below)', async () => {
    const res = await callbackWith({});
    expect(res.status).toBe(302);
    expect((await exchange(h.baseUrl, codeOf(res))).status).toBe(200);
  });

  it('refuses a callback without the state cookie', async () => {
    const attempt = await startSignIn(h.baseUrl, op, 'grace');
    await expectRefused(await callHubCallback(attempt.back, undefined));
  });

  it('refuses a state that is not the one bound to this browser (another sign-in\'s cookie)', async () => {
    const mine = await startSignIn(h.baseUrl, op, 'grace');
    const other = await fetch(`${h.baseUrl}/api/auth/sso/login`, { redirect: 'manual' });
    const otherCookie = (other.headers.getSetCookie()[0] ?? '').split(';')[0];
    await expectRefused(await callHubCallback(mine.back, otherCookie));
  });

  it('refuses an altered state cookie', async () => {
    const attempt = await startSignIn(h.baseUrl, op, 'grace');
    const [name, value = ''] = attempt.cookie.split('=');
    const flipped = `${value.slice(0, -2)}${value.endsWith('A') ? 'B' : 'A'}${value.slice(-1)}`;
    await expectRefused(await callHubCallback(attempt.back, `${name}=${flipped}`));
  });

  it('refuses a nonce that is not this sign-in\'s', async () => {
    await expectRefused(await callbackWith({ claims: (c) => ({ ...c, nonce: 'a-nonce-of-another-sign-in' }) }));
  });

  it('refuses an ID token of another issuer', async () => {
    await expectRefused(await callbackWith({ claims: (c) => ({ ...c, iss: 'https://evil.example' }) }));
  });

  it('refuses an ID token for another audience', async () => {
    await expectRefused(await callbackWith({ claims: (c) => ({ ...c, aud: 'another-client' }) }));
  });

  it('refuses an expired ID token', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRefused(await callbackWith({ claims: (c) => ({ ...c, iat: now - 7200, exp: now - 3600 }) }));
  });

  it('refuses an ID token signed by another key (same kid)', async () => {
    await expectRefused(await callbackWith({ key: 'other' }));
  });

  it('refuses the provider\'s code presented a second time', async () => {
    const attempt = await startSignIn(h.baseUrl, op, 'grace');
    expect((await callHubCallback(attempt.back, attempt.cookie)).status).toBe(302);
    await expectRefused(await callHubCallback(attempt.back, attempt.cookie));
  });

  it('refuses a one-time code used once already, and a made-up one', async () => {
    const res = await callbackWith({});
    const code = codeOf(res);
    expect((await exchange(h.baseUrl, code)).status).toBe(200);
    const again = await exchange(h.baseUrl, code);
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    expect((await exchange(h.baseUrl, `${code.slice(0, -3)}abc`)).status).toBe(401);
    expect((await exchange(h.baseUrl, 'not-a-code')).status).toBe(401);
  });

  it('lets exactly one of two simultaneous exchanges of a code through', async () => {
    const code = codeOf(await callbackWith({}));
    const statuses = (await Promise.all([exchange(h.baseUrl, code), exchange(h.baseUrl, code)])).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 401]);
  });

  it('refuses to link a local user by an email the provider has not verified', async () => {
    const admin = await h.connect(h.adminToken);
    await admin.request('users.create', { username: 'heidi-local', password: 'heidi-password', email: 'heidi@lab.example' });
    await admin.close();
    const attempt = await startSignIn(h.baseUrl, op, 'heidi');
    await expectRefused(await callHubCallback(attempt.back, attempt.cookie), 403);
  });
});

describe('SSO refusals, counted', () => {
  it('were each refused for the check it forged (hub_sso_logins_total by reason)', async () => {
    const metrics = await (await fetch(`${h.baseUrl}/metrics`)).text();
    const count = (reason: string): number =>
      Number(new RegExp(`hub_sso_logins_total\\{outcome="refused",reason="${reason}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    expect(count('missing_state_cookie')).toBe(1);
    expect(count('state_mismatch')).toBe(1);
    expect(count('bad_state_cookie')).toBe(1);
    expect(count('claim_mismatch')).toBe(3); // nonce, iss, aud
    expect(count('id_token_expired')).toBe(1);
    expect(count('bad_signature')).toBe(1);
    expect(count('token_request_refused')).toBe(1); // the provider's code, twice
    expect(count('code_reused')).toBe(2);
    expect(count('email_not_verified')).toBe(1);
  });
});

describe('SSO off', () => {
  let off: TestHub;
  beforeAll(async () => {
    off = await startTestHub();
  });
  afterAll(async () => {
    await off?.stop();
  });

  it('answers 404 on its three routes and shows no SSO button', async () => {
    expect((await fetch(`${off.baseUrl}/api/auth/sso/login`, { redirect: 'manual' })).status).toBe(404);
    expect((await fetch(`${off.baseUrl}/api/auth/sso/callback?code=x&state=y`, { redirect: 'manual' })).status).toBe(404);
    expect((await exchange(off.baseUrl, 'x')).status).toBe(404);
    expect(await (await fetch(off.baseUrl)).text()).not.toContain('/api/auth/sso/login');
  });
});

describe('SSO configuration', () => {
  const base = { HUB_OIDC_CLIENT_ID: 'hub', HUB_OIDC_CLIENT_SECRET: 'secret', HUB_PORT: '8080' };
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return [...err.problems];
      throw err;
    }
  };

  it('takes https issuers, and plain http only on a loopback address', () => {
    expect(problems({ ...base, HUB_OIDC_ISSUER: 'https://id.example/realms/lab' })).toEqual([]);
    expect(problems({ ...base, HUB_OIDC_ISSUER: 'http://127.0.0.1:8081' })).toEqual([]);
    expect(problems({ ...base, HUB_OIDC_ISSUER: 'http://localhost:8081/realms/lab' })).toEqual([]);
    expect(problems({ ...base, HUB_OIDC_ISSUER: 'http://id.example/realms/lab' }).join()).toMatch(/HUB_OIDC_ISSUER must be an https URL/);
    expect(problems({ ...base, HUB_OIDC_ISSUER: 'http://10.0.0.5' }).join()).toMatch(/HUB_OIDC_ISSUER/);
  });

  it('lists every missing or bad setting at once', () => {
    const found = problems({ HUB_OIDC_ISSUER: 'https://id.example', HUB_PORT: '0', HUB_OIDC_ROLE_MAP: 'admins=root' }).join('\n');
    expect(found).toMatch(/HUB_OIDC_CLIENT_ID is required/);
    expect(found).toMatch(/HUB_OIDC_CLIENT_SECRET/);
    expect(found).toMatch(/HUB_OIDC_REDIRECT_URL/);
    expect(found).toMatch(/HUB_OIDC_ROLE_MAP must be/);
    expect(found).not.toContain('secret');
  });

  it('is off without an issuer, and derives the redirect URL from HUB_PUBLIC_URL', () => {
    expect(loadConfig({}).oidc).toBeNull();
    const config = loadConfig({ ...base, HUB_OIDC_ISSUER: 'https://id.example', HUB_PUBLIC_URL: 'https://hub.lab.example' });
    expect(config.oidc?.redirectUrl).toBe('https://hub.lab.example/api/auth/sso/callback');
    expect(config.oidc?.scopes).toBe('openid email profile');
    expect(config.oidc?.autoCreate).toBe(true);
  });
});
