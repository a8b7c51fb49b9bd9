/**
 * Tokens: every bad one refused before a socket exists; revocation, deletion and expiry close
 * open sockets with 1008; login's contract, its rate limit; secrets in no reply and no log line.
 * @see PROTOCOL.md §1, §4, §8, §10
 */
import http from 'node:http';
import { Writable } from 'node:stream';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { ADMIN_PASSWORD, rawSocket, startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
const SECRET = 'a-test-secret-that-is-long-enough-0123456789';
const logLines: string[] = [];
let h: TestHub;
let admin: HubClient;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  h = await startTestHub({ HUB_LOG_LEVEL: 'debug' }, sink);
  admin = await h.connect(h.adminToken);
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

const key = new TextEncoder().encode(SECRET);
async function forge(claims: Rec, options: { secret?: Uint8Array; exp?: number; iat?: number; nbf?: number } = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer('telemetry-hub').setJti(crypto.randomUUID());
  jwt = jwt.setIssuedAt(options.iat ?? Math.floor(Date.now() / 1000));
  jwt = jwt.setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 600);
  if (options.nbf !== undefined) jwt = jwt.setNotBefore(options.nbf);
  return jwt.sign(options.secret ?? key);
}

async function refusedStatus(token: string): Promise<number> {
  try {
    const ws = await rawSocket(h.wsUrl, token);
    ws.terminate();
    return 101;
  } catch (err) {
    return (err as { statusCode: number }).statusCode;
  }
}

describe('refused tokens (401 before any socket exists)', () => {
  let adminId: string;
  beforeAll(async () => {
    adminId = ((await admin.request<Rec>('auth.me')).user as Rec).public_id as string;
  });

  it('accepts a well-formed token (the forging helper is right)', async () => {
    expect(await refusedStatus(await forge({ sub: adminId, role: 'admin' }))).toBe(101);
  });

  it.each([
    ['a wrong signature', async () => forge({ sub: adminId, role: 'admin' }, { secret: new TextEncoder().encode('x'.repeat(40)) })],
    ['alg none', async () => new UnsecuredJWT({ sub: adminId, role: 'admin' }).setIssuer('telemetry-hub').setJti('j').setIssuedAt().setExpirationTime('1h').encode()],
    ['an expired token', async () => forge({ sub: adminId, role: 'admin' }, { iat: 1_000_000, exp: 1_000_060 })],
    ['a token not yet valid', async () => forge({ sub: adminId, role: 'admin' }, { nbf: Math.floor(Date.now() / 1000) + 3600 })],
    ['a token for no user', async () => forge({ sub: crypto.randomUUID(), role: 'admin' })],
    ['garbage', async () => 'not-a-token'],
    ['an unknown API token', async () => 'hub_' + 'A'.repeat(43)],
  ])('%s', async (_name, make) => {
    expect(await refusedStatus(await make())).toBe(401);
  });

  it('answers a refused upgrade with the error object', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get(`${h.baseUrl}/ws`, {
        headers: {
          authorization: 'Bearer nope',
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
    });
    expect(status).toBe(401);
    expect(JSON.parse(body)).toMatchObject({ error: { status: 401, code: 'unauthorized' } });
  });

  it('accepts the token as ?token= for browsers', async () => {
    const ws = await new Promise<boolean>((resolve) => {
      void import('ws').then(({ default: WebSocket }) => {
        const socket = new WebSocket(`${h.wsUrl}?token=${encodeURIComponent(h.adminToken)}`);
        socket.once('open', () => {
          socket.terminate();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
    });
    expect(ws).toBe(true);
  });

  it('refuses a revoked token and a deleted user', async () => {
    const viewer = await h.userWithRole('viewer');
    const res = await fetch(`${h.baseUrl}/api/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${viewer.token}` } });
    expect(res.status).toBe(200);
    expect(await refusedStatus(viewer.token)).toBe(401);
    const other = await h.userWithRole('viewer');
    await admin.request('users.delete', { public_id: other.user.public_id });
    expect(await refusedStatus(other.token)).toBe(401);
  });
});

describe('open sockets close with 1008', () => {
  it('on HTTP logout of their token (and only theirs)', async () => {
    const viewer = await h.userWithRole('viewer');
    const a = await h.connect(viewer.token);
    const b = await h.connect(viewer.token, 'msgpack');
    const otherToken = await h.login(viewer.user.username as string, viewer.password);
    const c = await h.connect(otherToken);
    await fetch(`${h.baseUrl}/api/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${viewer.token}` } });
    expect((await a.closed).code).toBe(1008);
    expect((await b.closed).code).toBe(1008);
    await expect(c.request('auth.me')).resolves.toMatchObject({ role: 'viewer' });
    await c.close();
  });

  it('regression: a logout never closes a socket of another token, also when sockets come and go around it', async () => {
    // Issue 8 (13): the other token's socket was seen closed with 1006 in about 1 of 4 runs.
    // Each round also opens and drops sockets the way the tests before this one do, so that
    // uWS reuses the memory of closed sockets for new ones.
    const viewer = await h.userWithRole('viewer');
    for (let round = 0; round < 25; round++) {
      const token = await h.login(viewer.user.username as string, viewer.password);
      const otherToken = await h.login(viewer.user.username as string, viewer.password);
      const dropped = await rawSocket(h.wsUrl, token);
      dropped.terminate();
      const a = await h.connect(token);
      const b = await h.connect(token, 'msgpack');
      const c = await h.connect(otherToken);
      let cClosed: number | undefined;
      void c.closed.then(({ code }) => (cClosed = code));
      await fetch(`${h.baseUrl}/api/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect((await a.closed).code).toBe(1008);
      expect((await b.closed).code).toBe(1008);
      await expect(c.request('auth.me')).resolves.toMatchObject({ role: 'viewer' });
      expect(cClosed).toBeUndefined();
      await c.close();
    }
    // 50 logins (argon2): minutes, not seconds, on a loaded machine.
  }, 180_000);

  it('on auth.logout, after its reply', async () => {
    const viewer = await h.userWithRole('viewer');
    const client = await h.connect(viewer.token);
    await expect(client.request('auth.logout')).resolves.toEqual({ status: 'success' });
    expect((await client.closed).code).toBe(1008);
  });

  it('when its API token is deleted, or its user', async () => {
    const token = await admin.request<Rec>('api_tokens.create', { name: 'temp' });
    const client = await h.connect(token.token as string);
    await admin.request('api_tokens.delete', { public_id: token.public_id });
    expect((await client.closed).code).toBe(1008);

    const viewer = await h.userWithRole('viewer');
    const vc = await h.connect(viewer.token);
    await admin.request('users.delete', { public_id: viewer.user.public_id });
    expect((await vc.closed).code).toBe(1008);
  });

  it('when its API token is deleted behind the hub\'s back (the sweep), within about a second', async () => {
    const token = await admin.request<Rec>('api_tokens.create', { name: 'external' });
    const client = await h.connect(token.token as string);
    await h.database.pool.query('DELETE FROM api_tokens WHERE public_id = $1', [token.public_id]);
    const started = Date.now();
    expect((await client.closed).code).toBe(1008);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('when its token expires during the session', async () => {
    const viewer = await h.userWithRole('viewer');
    const shortLived = await forge({ sub: viewer.user.public_id, role: 'viewer' }, { exp: Math.floor(Date.now() / 1000) + 2 });
    const client = await h.connect(shortLived);
    expect((await client.closed).code).toBe(1008);
  });

  it('when its token expires, every socket of the token, also after another of them closed first', async () => {
    // The sockets of one token share one expiry timer: closing one must not disarm it for the rest.
    const viewer = await h.userWithRole('viewer');
    const shortLived = await forge({ sub: viewer.user.public_id, role: 'viewer' }, { exp: Math.floor(Date.now() / 1000) + 2 });
    const first = await h.connect(shortLived);
    const second = await h.connect(shortLived, 'msgpack');
    const third = await h.connect(shortLived);
    await first.close();
    expect((await second.closed).code).toBe(1008);
    expect((await third.closed).code).toBe(1008);
  });
});

describe('auth.me', () => {
  it('regression: returns the current user record, not the one read when the socket opened', async () => {
    // A socket keeps a small principal, not the user row: auth.me must read the row when asked.
    const viewer = await h.userWithRole('viewer');
    const a = await h.connect(viewer.token);
    const b = await h.connect(viewer.token, 'msgpack');
    try {
      const before = (await a.request<Rec>('auth.me')).user as Rec;
      expect(before).toMatchObject({ public_id: viewer.user.public_id, username: viewer.user.username });
      expect(before).not.toHaveProperty('password_hash');
      const email = `changed-${crypto.randomUUID()}@example.com`;
      await b.request('users.update', { public_id: viewer.user.public_id, email });
      const after = await a.request<Rec>('auth.me');
      expect(after).toMatchObject({ role: 'viewer', user: { public_id: viewer.user.public_id, username: viewer.user.username, email } });
      expect(after.user).not.toHaveProperty('password_hash');
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('login', () => {
  it('returns the token, its type, lifetime and user', async () => {
    const res = await fetch(`${h.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Rec;
    expect(body).toMatchObject({ token_type: 'bearer', expires_in: 3600, user: { username: 'admin', role: 'admin' } });
    expect(typeof body.access_token).toBe('string');
    expect(body.user.public_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    ['bad JSON', '{', 400, 'bad_request'],
    ['missing fields', '{}', 422, 'invalid'],
    ['a wrong password', JSON.stringify({ username: 'admin', password: 'wrong-password' }), 401, 'unauthorized'],
    ['an unknown user', JSON.stringify({ username: 'nobody', password: 'whatever-pw' }), 401, 'unauthorized'],
  ])('answers %s with %i', async (_name, body, status, code) => {
    const res = await fetch(`${h.baseUrl}/api/auth/login`, { method: 'POST', body });
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ error: { status, code } });
  });

  it('allows 10 failed attempts a minute per address and username, then 429 with retry_after_ms', async () => {
    await admin.request('users.create', { username: 'target', password: 'right-password' });
    const attempt = (password: string) =>
      fetch(`${h.baseUrl}/api/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'target', password }) });
    for (let i = 0; i < 10; i++) expect((await attempt(`wrong-${i}`)).status).toBe(401);
    const limited = await attempt('right-password');
    expect(limited.status).toBe(429);
    const body = (await limited.json()) as Rec;
    expect(body.error).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(body.error.retry_after_ms).toBeGreaterThan(0);
    // Other usernames from the same address are not locked out.
    expect((await fetch(`${h.baseUrl}/api/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) })).status).toBe(200);
  });
});

describe('secrets', () => {
  it('appear in no log line', async () => {
    await admin.request('users.create', { username: 'logcheck', password: 'log-check-password' });
    await h.login('logcheck', 'log-check-password');
    const token = await admin.request<Rec>('api_tokens.create', { name: 'logcheck' });
    await admin.request('webhooks.create', { url: 'https://example.com/x', secret: 'webhook-signing-secret', events: ['sensor.reading'] });
    const all = logLines.join('\n');
    expect(logLines.length).toBeGreaterThan(0);
    for (const secret of ['log-check-password', ADMIN_PASSWORD, token.token as string, 'webhook-signing-secret', h.adminToken, '$argon2id$']) {
      expect(all).not.toContain(secret);
    }
  });
});
