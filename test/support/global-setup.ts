/**
 * One PostgreSQL for the whole run: `DATABASE_URL` when set, else an embedded one in a temporary
 * directory. A migrated template database is made once; each test file copies it
 * (`CREATE DATABASE … TEMPLATE`, see db.ts) and so starts from a fresh, migrated schema.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { runMigrations } from '../../src/db/migrate.js';
import { createPool, withDatabase } from '../../src/db/pool.js';
import { createLogger } from '../../src/log.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A URL with rights to create databases (its database is `postgres`). */
    adminUrl: string;
    /** The migrated template each test database is copied from. */
    templateDatabase: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = createLogger('warn');
  let adminUrl = process.env.DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let dir: string | undefined;
  if (adminUrl === undefined || adminUrl === '') {
    dir = await mkdtemp(path.join(tmpdir(), 'hub-test-'));
    await chmod(dir, 0o711);
    const embedded = await startEmbeddedPostgres(dir, log);
    adminUrl = embedded.url;
    stopEmbedded = () => embedded.stop();
  }
  const templateDatabase = `hub_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase}`);
  await admin.query(`CREATE DATABASE ${templateDatabase}`);
  const pool = createPool(withDatabase(adminUrl, templateDatabase));
  await runMigrations(pool);
  await pool.end();
  project.provide('adminUrl', adminUrl);
  project.provide('templateDatabase', templateDatabase);

  return async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await stopEmbedded?.();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  };
}
