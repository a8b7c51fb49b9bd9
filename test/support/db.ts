/** A fresh migrated database per test file, copied from the run's template (see global-setup.ts). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { drizzle } from 'drizzle-orm/node-postgres';
import type { Db } from '../../src/db/database.js';
import { createPool, withDatabase } from '../../src/db/pool.js';
import * as schema from '../../src/db/schema.js';

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  readonly pool: pg.Pool;
  readonly db: Db;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('adminUrl') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database (not migrated), for tests of migrations themselves. */
export async function createEmptyDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `hub_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: withDatabase(inject('adminUrl'), name),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** Creates a migrated database of its own for one test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `hub_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${inject('templateDatabase')}`));
  const url = withDatabase(inject('adminUrl'), name);
  const pool = createPool(url);
  // pool.end() resolves before its clients' connections have closed, and DROP DATABASE … WITH
  // (FORCE) below then terminates one still closing: its FATAL 57P01 reaches the pool as an
  // 'error' event, which without a listener is an uncaught exception that fails the whole run
  // (seen once in a CI dry run, after devices.test.ts). A test pool's idle errors mean nothing.
  pool.on('error', () => undefined);
  return {
    name,
    url,
    pool,
    db: drizzle({ client: pool, schema }),
    drop: async () => {
      await pool.end();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
