/**
 * A real OpenID provider for the SSO tests: panva's `oidc-provider` (certified) on 127.0.0.1,
 * port 0, over plain HTTP (a loopback issuer, PROTOCOL.md §17), with its own signing key, one
 * confidential client and test accounts whose claims a test may change between logins.
 *
 * To test that the hub refuses forged ID tokens, a test may set {@link TestProvider.tamper}: the
 * provider's real token response then has its ID token re-signed — with the provider's own key
 * (so only the changed claim is wrong) or another key under the same `kid`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload } from 'jose';

/** Claims of a test account (`sub` is its login at the provider's form). */
export type AccountClaims = Record<string, unknown> & { email?: string; email_verified?: boolean };

export interface Tamper {
  /** Changes the ID token's claims. */
  claims?: (claims: JWTPayload) => JWTPayload;
  /** `other`: sign with a key the provider never published (same `kid`). */
  key?: 'provider' | 'other';
}

export interface TestProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Accounts by login (= `sub`); change their claims to change the next login's. */
  readonly accounts: Map<string, AccountClaims>;
  /** When set, every token response's ID token is re-signed this way. */
  tamper: Tamper | undefined;
  /**
   * Plays the browser at the provider: follows `authorizeUrl`, signs in as `login` on the
   * provider's own form, and returns the URL the provider sends the browser back to (the hub's
   * callback with `code` and `state`). `jar` keeps the provider's cookies between calls.
   */
  signIn(authorizeUrl: string, login: string, jar?: CookieJar): Promise<URL>;
  stop(): Promise<void>;
}

/** The parts of oidc-provider's Provider (a Koa app) used here; the package ships no types. */
interface ProviderApp {
  proxy: boolean;
  callback(): (req: unknown, res: unknown) => void;
  use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
  Grant: new (init: { clientId: string; accountId: string }) => GrantLike;
}
interface GrantLike {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  save(): Promise<string>;
}
interface KoaContext {
  path: string;
  status: number;
  body: unknown;
  oidc: { client?: { clientId: string }; session?: { accountId?: string; grantIdFor(clientId: string): string | undefined }; result?: { consent?: { grantId?: string } }; provider: { Grant: { find(id: string): Promise<GrantLike | undefined> } } };
}
type ProviderCtor = new (issuer: string, configuration: Record<string, unknown>) => ProviderApp;

/** Cookies by name, for one browser at the provider. */
export type CookieJar = Map<string, string>;

/** Starts a provider whose single client may redirect to `redirectUri`. */
export async function startTestProvider(redirectUri: string, accounts: Record<string, AccountClaims> = {}): Promise<TestProvider> {
  // A variable specifier: the package has no type declarations, its shape is ProviderApp above.
  const specifier = 'oidc-provider';
  const { default: Provider } = (await import(specifier)) as { default: ProviderCtor };
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `test-${randomBytes(4).toString('hex')}`;
  const signingJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const other = await generateKeyPair('RS256', { extractable: true });
  const accountMap = new Map(Object.entries(accounts));
  const clientId = 'telemetry-hub';
  const clientSecret = `client-secret-${randomBytes(16).toString('hex')}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username', 'groups'] },
    findAccount: (_ctx: unknown, id: string) => {
      if (!accountMap.has(id)) return undefined;
      // Read at each token and userinfo request, so a test's change shows at the next login.
      return { accountId: id, claims: () => ({ ...accountMap.get(id), sub: id }) };
    },
    // A first-party client: no consent screen (oidc-provider's documented recipe).
    loadExistingGrant: async (ctx: KoaContext) => {
      const client = ctx.oidc.client?.clientId ?? '';
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session?.grantIdFor(client);
      if (grantId !== undefined) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new provider.Grant({ clientId: client, accountId: ctx.oidc.session?.accountId ?? '' });
      grant.addOIDCScope('openid email profile');
      grant.addOIDCClaims(['email', 'email_verified', 'name', 'preferred_username', 'groups']);
      await grant.save();
      return grant;
    },
    features: { devInteractions: { enabled: true } },
  });

  const testProvider: TestProvider = {
    issuer,
    clientId,
    clientSecret,
    accounts: accountMap,
    tamper: undefined,
    signIn: (authorizeUrl, login, jar = new Map()) => signIn(issuer, redirectUri, authorizeUrl, login, jar),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  provider.use(async (ctx, next) => {
    await next();
    const tamper = testProvider.tamper;
    if (tamper === undefined || ctx.path !== '/token' || ctx.status !== 200) return;
    const body = ctx.body as { id_token?: string };
    if (typeof body.id_token !== 'string') return;
    const header = decodeProtectedHeader(body.id_token);
    const claims = (tamper.claims ?? ((c) => c))(decodeJwt(body.id_token));
    const key = tamper.key === 'other' ? other.privateKey : await importJWK(signingJwk, 'RS256');
    body.id_token = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: header.kid ?? kid, typ: header.typ }).sign(key);
  });
  server.on('request', provider.callback());
  return testProvider;
}

async function signIn(issuer: string, redirectUri: string, authorizeUrl: string, login: string, jar: CookieJar): Promise<URL> {
  let url = new URL(authorizeUrl);
  let init: RequestInit = {};
  let submitted = false;
  for (let step = 0; step < 12; step++) {
    const headers = new Headers(init.headers);
    if (jar.size > 0) headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(cookie)) jar.delete(name);
      else jar.set(name, pair.slice(at + 1).trim());
    }
    const location = res.headers.get('location');
    if (location !== null) {
      await res.arrayBuffer();
      const next = new URL(location, url);
      if (next.href.startsWith(redirectUri)) return next;
      url = next;
      init = {};
      continue;
    }
    const html = await res.text();
    if (res.status !== 200 || !url.pathname.startsWith('/interaction/')) throw new Error(`the provider answered ${res.status} at ${url.pathname}: ${html.slice(0, 300)}`);
    // The provider's own login form (devInteractions): any password, the login is the account id.
    const prompt = html.includes('name="prompt" value="consent"') ? 'consent' : 'login';
    if (prompt === 'login' && submitted) throw new Error(`the provider shows its login form again at ${url.pathname} (an unknown account?)`);
    if (prompt === 'login') submitted = true;
    url = new URL(url.pathname, issuer);
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt }).toString(),
    };
  }
  throw new Error('too many steps at the provider');
}

/** A port free now (the hub's, so that the provider's client can name its redirect URL first). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** What the hub answered at each step of one sign-in played without a browser. */
export interface SsoAttempt {
  /** The hub's answer to `GET /api/auth/sso/login`. */
  readonly start: Response;
  /** The `Cookie` header value the hub's state cookie makes. */
  readonly cookie: string;
  /** Where the provider sent the browser back (the hub's callback, with `code` and `state`). */
  readonly back: URL;
}

/** Starts a sign-in at the hub and signs in at the provider, stopping before the hub's callback. */
export async function startSignIn(baseUrl: string, provider: TestProvider, login: string): Promise<SsoAttempt> {
  const start = await fetch(`${baseUrl}/api/auth/sso/login`, { redirect: 'manual' });
  if (start.status !== 302) throw new Error(`sso/login answered ${start.status}: ${await start.text()}`);
  const [setCookie = ''] = start.headers.getSetCookie();
  const cookie = setCookie.split(';')[0] ?? '';
  const back = await provider.signIn(start.headers.get('location') ?? '', login);
  return { start, cookie, back };
}

/** The hub's callback for `back`, with `cookie` (or none). */
export function callHubCallback(back: URL, cookie: string | undefined): Promise<Response> {
  return fetch(back, { headers: cookie === undefined ? {} : { cookie }, redirect: 'manual' });
}

/** The one-time code of a callback's `302 /#sso_code=<code>`. */
export function codeOf(callback: Response): string {
  const location = callback.headers.get('location') ?? '';
  const match = /^\/#sso_code=(.+)$/.exec(location);
  if (match === null) throw new Error(`no code in the callback's answer: ${callback.status} ${location}`);
  return decodeURIComponent(match[1] as string);
}

/** `POST /api/auth/sso/exchange`. */
export function exchange(baseUrl: string, code: string): Promise<Response> {
  return fetch(`${baseUrl}/api/auth/sso/exchange`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
}
