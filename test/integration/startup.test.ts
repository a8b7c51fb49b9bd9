/** The hub as a program: start on the embedded database or DATABASE_URL, restart, refuse bad setups. */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmptyDatabase } from '../support/db.js';
import { ROOT, spawnHub, startHubProcess, type HubProcess } from '../support/hub-process.js';

const running: HubProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((hub) => hub.stop('SIGKILL')));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hub-start-'));
  await chmod(dir, 0o711);
  dirs.push(dir);
  return dir;
}

async function start(env: Record<string, string>, entry: 'src' | 'dist' = 'src'): Promise<HubProcess> {
  const hub = await startHubProcess({ env, entry });
  running.push(hub);
  return hub;
}

/** Connects to the embedded database of a data directory, as the hub does. */
async function embeddedClient(dir: string): Promise<pg.Client> {
  const password = (await readFile(path.join(dir, 'secrets/pg-password'), 'utf8')).trim();
  const client = new pg.Client({ host: path.join(dir, 'run'), port: 5432, user: 'postgres', password, database: 'postgres' });
  await client.connect();
  return client;
}

describe('the hub program', () => {
  it('starts on the embedded database, serves /healthz, stops cleanly, and finds the same data again', async () => {
    const dir = await dataDir();
    const first = await start({ HUB_DATA_DIR: dir });
    const res = await fetch(`${first.baseUrl}/healthz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { version: unknown; uptime_s: unknown };
    expect(body).toMatchObject({ status: 'ok', database: 'ok', queue: { depth: 0, capacity: 200_000 } });
    expect(typeof body.version).toBe('string');
    expect(typeof body.uptime_s).toBe('number');
    const printed = first.output().match(/First admin created: username "admin", password "([^"]{8,})"/);
    expect(printed).not.toBeNull();
    // Also kept in a file only the hub's user can read.
    const passwordFile = path.join(dir, 'secrets/first-admin-password');
    expect((await readFile(passwordFile, 'utf8')).trim()).toBe(printed?.[1]);
    expect((await stat(passwordFile)).mode & 0o777).toBe(0o600);

    const client = await embeddedClient(dir);
    const admin = (await client.query(`SELECT public_id, role FROM users`)).rows;
    expect(admin).toHaveLength(1);
    expect(admin[0].role).toBe('admin');
    // Blacklist entries of tokens that expired anyway are purged (at start, then hourly).
    await client.query(`INSERT INTO blacklist_tokens (jti, expires_at) VALUES ('expired-jti', now() - interval '1 hour'), ('live-jti', now() + interval '1 hour')`);

    await client.end();
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(existsSync(path.join(dir, 'pg/postmaster.pid'))).toBe(false);

    const second = await start({ HUB_DATA_DIR: dir });
    expect(second.output()).not.toContain('First admin created');
    const again = await embeddedClient(dir);
    expect((await again.query(`SELECT public_id FROM users`)).rows).toEqual([{ public_id: admin[0].public_id }]);
    expect((await again.query(`SELECT jti FROM blacklist_tokens`)).rows).toEqual([{ jti: 'live-jti' }]);
    await again.end();
    expect(await second.stop('SIGINT')).toBe(0);
  });

  it('on SIGTERM closes its sockets with 1001 and exits 0', async () => {
    const dir = await dataDir();
    const hub = await start({ HUB_DATA_DIR: dir, HUB_ADMIN_PASSWORD: 'sigterm-password' });
    const login = await fetch(`${hub.baseUrl}/api/auth/login`, {
      method: 'POST',
      body: JSON.stringify({ username: 'admin', password: 'sigterm-password' }),
    });
    const { access_token } = (await login.json()) as { access_token: string };
    const ws = new WebSocket(`ws://127.0.0.1:${hub.port}/ws`, { headers: { authorization: `Bearer ${access_token}` } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    expect(await hub.stop('SIGTERM')).toBe(0);
    expect(await closed).toBe(1001);
  });

  it('takes over the embedded database a killed hub left running', async () => {
    const dir = await dataDir();
    const first = await start({ HUB_DATA_DIR: dir });
    await first.stop('SIGKILL');
    const second = await start({ HUB_DATA_DIR: dir });
    expect((await fetch(`${second.baseUrl}/healthz`)).status).toBe(200);
    expect(await second.stop()).toBe(0);
  });

  it('answers /healthz 503 with database "error" when the database goes away', async () => {
    const dir = await dataDir();
    const hub = await start({ HUB_DATA_DIR: dir });
    const pid = Number((await readFile(path.join(dir, 'pg/postmaster.pid'), 'utf8')).split('\n')[0]);
    process.kill(pid, 'SIGINT');
    await new Promise((r) => setTimeout(r, 1000));
    const res = await fetch(`${hub.baseUrl}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'degraded', database: 'error' });
  });

  it('runs on DATABASE_URL, migrating it and creating the admin from HUB_ADMIN_PASSWORD', async () => {
    const database = await createEmptyDatabase();
    try {
      const dir = await dataDir();
      const hub = await start({ DATABASE_URL: database.url, HUB_DATA_DIR: dir, HUB_ADMIN_USERNAME: 'boss', HUB_ADMIN_PASSWORD: 'correct horse' });
      expect((await fetch(`${hub.baseUrl}/healthz`)).status).toBe(200);
      expect(hub.output()).not.toContain('correct horse');
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      expect((await client.query(`SELECT username, role FROM users`)).rows).toEqual([{ username: 'boss', role: 'admin' }]);
      await client.end();
      expect(await hub.stop()).toBe(0);
      expect(existsSync(path.join(dir, 'pg'))).toBe(false);
    } finally {
      await database.drop();
    }
  });

  it('refuses a bad configuration with one error naming every bad variable, creating nothing', async () => {
    const dir = path.join(await dataDir(), 'never');
    const { exited, output } = spawnHub({ env: { HUB_DATA_DIR: dir, HUB_PORT: 'eighty', HUB_JWT_SECRET: 'short', HUB_DEMO: 'perhaps' } });
    expect(await exited).toBe(2);
    expect(output()).toContain('HUB_PORT');
    expect(output()).toContain('HUB_JWT_SECRET');
    expect(output()).toContain('HUB_DEMO');
    expect(existsSync(dir)).toBe(false);
  });

  it('fails within seconds, clearly, when DATABASE_URL cannot be reached', async () => {
    const startedAt = Date.now();
    const { exited, output } = spawnHub({ env: { DATABASE_URL: 'postgres://postgres:secretpw@127.0.0.1:1/none' } });
    expect(await exited).toBe(1);
    expect(Date.now() - startedAt).toBeLessThan(15_000);
    expect(output()).toContain('cannot use the database at postgres://postgres:***@127.0.0.1:1/none');
    expect(output()).not.toContain('secretpw');
  });

  it('refuses to run on the uWebSockets.js JavaScript fallback', async () => {
    const { exited, output } = spawnHub({ env: { UWS_USE_FALLBACK: '1', DATABASE_URL: 'postgres://x@127.0.0.1:1/none' } });
    expect(await exited).toBe(1);
    expect(output()).toContain('fell back to its slow JavaScript polyfill');
  });

  it.runIf(existsSync(path.join(ROOT, 'dist/main.js')))('runs the same from the build (node dist/main.js)', async () => {
    const dir = await dataDir();
    const hub = await start({ HUB_DATA_DIR: dir }, 'dist');
    expect((await fetch(`${hub.baseUrl}/healthz`)).status).toBe(200);
    expect(await hub.stop()).toBe(0);
  });
});
