/**
 * Rights follow the user at once: a lowered role, a changed password or a concurrent demotion
 * never leaves a socket or token with rights its user no longer has; login limits hold under
 * concurrency.
 * @see PROTOCOL.md §2, §4, §10; issue 8 defects 2, 4, 7 and 9
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import * as t from '../../src/db/schema.js';
import { rawSocket, startTestHub, type TestHub } from '../support/hub.js';
import type { HubClient } from '../../src/client/hub-client.js';

type Rec = Record<string, any>;
let h: TestHub;
let admin: HubClient;

beforeAll(async () => {
  h = await startTestHub();
  admin = await h.connect(h.adminToken);
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

const closeCode = async (client: HubClient): Promise<number> => (await client.closed).code;

async function loginStatus(username: string, password: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${h.baseUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  return { status: res.status, body: await res.json() };
}

describe('a role change takes effect on open sockets (defect 2)', () => {
  it('a demoted user’s sockets close with 1008 and reconnect with the new role', async () => {
    const { token, user } = await h.userWithRole('operator');
    const socket = await h.connect(token);
    await expect(socket.request('events.create', { name: 'before-demotion' })).resolves.toBeDefined();
    await admin.request('users.update', { public_id: user.public_id, role: 'viewer' });
    expect(await closeCode(socket)).toBe(1008);
    const again = await h.connect(token);
    await expect(again.request('auth.me')).resolves.toMatchObject({ role: 'viewer' });
    await expect(again.request('events.create', { name: 'after-demotion' })).rejects.toMatchObject({ code: 'forbidden' });
    await again.close();
  });

  it('a demoted admin cannot re-promote itself', async () => {
    const { token, user } = await h.userWithRole('admin');
    const socket = await h.connect(token);
    const closed = socket.closed;
    await admin.request('users.update', { public_id: user.public_id, role: 'operator' });
    // Whatever it sends meanwhile, it is not an admin any more.
    const attempt = socket.request('users.update', { public_id: user.public_id, role: 'admin' }).then(
      () => 'ok',
      (err: { code?: string }) => err.code ?? 'closed',
    );
    expect((await closed).code).toBe(1008);
    const again = await h.connect(token);
    await expect(again.request('users.update', { public_id: user.public_id, role: 'admin' })).rejects.toMatchObject({ code: 'forbidden' });
    await again.close();
    const [row] = await h.database.db.select().from(t.users).where(eq(t.users.public_id, user.public_id as string));
    expect(row?.role).toBe('operator');
    expect(['closed', 'forbidden']).toContain(await attempt);
  });

  it('a role changed behind the hub’s back (another hub, SQL) is noticed by the sweep', async () => {
    const { token, user } = await h.userWithRole('operator');
    const socket = await h.connect(token);
    await h.database.db.update(t.users).set({ role: 'viewer' }).where(eq(t.users.public_id, user.public_id as string));
    expect(await closeCode(socket)).toBe(1008);
  });
});

describe('auth.change_password (defect 2)', () => {
  it('needs the current password; then revokes every login token of the user and closes their sockets', async () => {
    const { token, user, password } = await h.userWithRole('viewer');
    const other = await h.login(user.username as string, password);
    const first = await h.connect(token);
    const second = await h.connect(other);
    await expect(first.request('auth.change_password', { current_password: 'wrong-password', new_password: 'a-new-password-1' })).rejects.toMatchObject({
      code: 'unauthorized',
    });
    await expect(first.request('auth.change_password', { current_password: password, new_password: 'short' })).rejects.toMatchObject({ code: 'invalid' });
    const result = await first.request<{ access_token: string }>('auth.change_password', { current_password: password, new_password: 'a-new-password-1' });
    expect(typeof result.access_token).toBe('string');
    expect(await closeCode(first)).toBe(1008);
    expect(await closeCode(second)).toBe(1008);
    for (const old of [token, other]) await expect(rawSocket(h.wsUrl, old)).rejects.toMatchObject({ statusCode: 401 });
    const fresh = await h.connect(result.access_token);
    await expect(fresh.request('auth.me')).resolves.toMatchObject({ role: 'viewer' });
    await fresh.close();
    expect((await loginStatus(user.username as string, password)).status).toBe(401);
    expect((await loginStatus(user.username as string, 'a-new-password-1')).status).toBe(200);
  });

  it('a password set by an admin also revokes the user’s login tokens', async () => {
    const { token, user } = await h.userWithRole('operator');
    const socket = await h.connect(token);
    await admin.request('users.update', { public_id: user.public_id, password: 'set-by-the-admin' });
    expect(await closeCode(socket)).toBe(1008);
    await expect(rawSocket(h.wsUrl, token)).rejects.toMatchObject({ statusCode: 401 });
  });

  it('a non-admin cannot set its password with users.update (that needs the current one)', async () => {
    const { token, user, password } = await h.userWithRole('operator');
    const socket = await h.connect(token);
    await expect(socket.request('users.update', { public_id: user.public_id, password: 'taken-over-password' })).rejects.toMatchObject({ code: 'forbidden' });
    expect((await loginStatus(user.username as string, password)).status).toBe(200);
    await socket.close();
  });

  it('is refused to device tokens', async () => {
    const instance = await admin.request<{ public_id: string }>('plugin_instances.create', { plugin_id: 'p', instance_name: 'pw-device' });
    const { token } = await admin.request<{ token: string }>('api_tokens.create', { name: 'd', plugin_instance_public_id: instance.public_id });
    const device = await h.connect(token);
    await expect(device.request('auth.change_password', { current_password: 'x', new_password: 'yyyyyyyy' })).rejects.toMatchObject({ code: 'forbidden' });
    await device.close();
  });
});

describe('the last admin stays, also under concurrency (defect 7)', () => {
  it('two admins demoting each other at once leave one admin', async () => {
    // A hub of its own: its admins are demoted and promoted here, and a demoted admin's sockets
    // close (the sweep follows roles), which must not touch the other tests' admin.
    const h2 = await startTestHub();
    try {
      let creator = await h2.connect(h2.adminToken);
      let creatorId = ((await creator.request<Rec>('auth.me')).user as Rec).public_id as string;
      for (let round = 0; round < 5; round++) {
        const admin = async () => {
          const username = `race-${round}-${Math.random().toString(36).slice(2, 8)}`;
          const user = await creator.request<Rec>('users.create', { username, password: 'race-password', role: 'admin' });
          return { user, token: await h2.login(username, 'race-password') };
        };
        const a = await admin();
        const b = await admin();
        // Only these two are admins in this round: the creator steps down (in SQL).
        await h2.database.db.update(t.users).set({ role: 'viewer' }).where(eq(t.users.public_id, creatorId));
        const ca = await h2.connect(a.token);
        const cb = await h2.connect(b.token);
        const outcomes = await Promise.all([
          ca.request('users.update', { public_id: b.user.public_id, role: 'viewer' }).then(() => 'ok', (e: { code?: string }) => e.code ?? 'closed'),
          cb.request('users.update', { public_id: a.user.public_id, role: 'viewer' }).then(() => 'ok', (e: { code?: string }) => e.code ?? 'closed'),
        ]);
        const admins = await h2.database.db.select().from(t.users).where(eq(t.users.role, 'admin'));
        expect(admins.length).toBe(1);
        expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
        await ca.close().catch(() => undefined);
        await cb.close().catch(() => undefined);
        // The one left creates the next round's pair.
        const winner = admins[0]?.public_id === a.user.public_id ? a : b;
        creator = await h2.connect(winner.token);
        creatorId = winner.user.public_id as string;
      }
      await creator.close();
    } finally {
      await h2.stop();
    }
  });
});

describe('login under concurrency (defects 4 and 9)', () => {
  it('30 simultaneous wrong passwords for one username: at most 10 are checked, the rest get 429', async () => {
    const { user } = await h.userWithRole('viewer');
    const results = await Promise.all(Array.from({ length: 30 }, () => loginStatus(user.username as string, 'wrong-password')));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    const limited = results.find((r) => r.status === 429);
    expect(limited?.body.error.retry_after_ms).toBeGreaterThan(0);
  });

  it('bounds the password checks one address runs and queues at once', async () => {
    // 4 run, 16 wait, the rest are refused at once.
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => loginStatus(`nobody-${i}`, 'wrong-password')));
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
  });

  it('a username with NUL, or too long for any user, is a plain 401, never 500', async () => {
    await new Promise((r) => setTimeout(r, 10));
    for (const username of ['ad\u0000min', 'x'.repeat(10_000)]) {
      const { status, body } = await loginStatus(username, 'whatever-password');
      expect(status).toBe(401);
      expect(body.error.code).toBe('unauthorized');
    }
  });
});
