/**
 * Migration 0008 turns an existing `datapoints` into a partitioned table and keeps every row:
 * a database migrated up to the migration before it gets rows, then the rest is applied.
 * @see PROTOCOL.md §16
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, runMigrations } from '../../src/db/migrate.js';
import { listPartitions } from '../../src/db/partitions.js';
import { createEmptyDatabase } from '../support/db.js';

const TAG = '0008_partition_datapoints';
let database: Awaited<ReturnType<typeof createEmptyDatabase>>;
let pool: pg.Pool;
let scratch: string;

/** Applies the migrations before ours (a copy of the folder whose journal stops there). */
async function migrateUpToBefore(tag: string): Promise<void> {
  scratch = await mkdtemp(path.join(tmpdir(), 'hub-migrations-'));
  await cp(MIGRATIONS_DIR, scratch, { recursive: true });
  const journalPath = path.join(scratch, 'meta/_journal.json');
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: { tag: string }[] };
  const at = journal.entries.findIndex((e) => e.tag === tag);
  expect(at).toBeGreaterThan(0);
  journal.entries = journal.entries.slice(0, at);
  await writeFile(journalPath, JSON.stringify(journal));
  const client = await pool.connect();
  try {
    await migrate(drizzle({ client }), { migrationsFolder: scratch });
  } finally {
    client.release();
  }
}

beforeAll(async () => {
  database = await createEmptyDatabase();
  pool = new pg.Pool({ connectionString: database.url, max: 2 });
  // Its connections may still be closing when the database is dropped WITH (FORCE) (test/support/db.ts).
  pool.on('error', () => undefined);
});
afterAll(async () => {
  await pool?.end();
  await database?.drop();
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

describe('migration 0008 (partitioned datapoints)', () => {
  it('keeps every row, id and public_id of the old table, and new rows go to new partitions', async () => {
    await migrateUpToBefore(TAG);
    const events = (await pool.query(`INSERT INTO events (name) VALUES ('a'), ('b') RETURNING public_id`)).rows.map((r) => r.public_id as string);
    // 3000 rows over ~40 days, two events, some in an experiment; old random public_ids.
    await pool.query(`INSERT INTO experiments (name, started_on, stopped_on) VALUES ('x', now() - interval '50 days', now())`);
    await pool.query(
      `INSERT INTO datapoints (event_public_id, experiment_public_id, value, "timestamp")
       SELECT (ARRAY[$1, $2]::uuid[])[1 + g % 2], CASE WHEN g % 3 = 0 THEN (SELECT public_id FROM experiments) END,
              g * 0.5, now() - g * interval '20 minutes'
         FROM generate_series(1, 3000) g`,
      events,
    );
    const snapshot = async () =>
      (await pool.query(`SELECT id, public_id, event_public_id, experiment_public_id, value, "timestamp", created_on FROM datapoints ORDER BY id`)).rows;
    const before = await snapshot();
    expect(before).toHaveLength(3000);

    await runMigrations(pool);

    expect(await snapshot()).toEqual(before);
    const kind = await pool.query(`SELECT relkind FROM pg_class WHERE oid = 'public.datapoints'::regclass`);
    expect(kind.rows[0].relkind).toBe('p');
    const parts = await listPartitions(pool);
    expect(parts.map((p) => p.name)).toEqual(['datapoints_legacy']);
    // New rows: ids continue, and the default partition takes a time outside every partition.
    const added = await pool.query(
      `INSERT INTO datapoints (event_public_id, value, "timestamp") VALUES ($1, 1, now() + interval '400 days') RETURNING id, tableoid::regclass::text AS part`,
      [events[0]],
    );
    expect(Number(added.rows[0].id)).toBeGreaterThan(Math.max(...before.map((r) => Number(r.id))));
    expect(added.rows[0].part).toBe('partitions.datapoints_default');
    // The foreign keys still hold on the old rows: deleting an event deletes its points.
    await pool.query('DELETE FROM events WHERE public_id = $1', [events[1]]);
    expect(Number((await pool.query('SELECT count(*) FROM datapoints')).rows[0].count)).toBe(1501);
    await pool.query('DELETE FROM experiments');
    expect(Number((await pool.query('SELECT count(*) FROM datapoints WHERE experiment_public_id IS NOT NULL')).rows[0].count)).toBe(0);
  });

  it('on an empty table leaves only the default partition', async () => {
    const empty = await createEmptyDatabase();
    const p = new pg.Pool({ connectionString: empty.url, max: 1 });
    p.on('error', () => undefined);
    try {
      await runMigrations(p);
      expect(await listPartitions(p)).toEqual([]);
      const { rows } = await p.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'datapoints'::regclass`);
      expect(rows).toEqual([{ relname: 'datapoints_default' }]);
    } finally {
      await p.end();
      await empty.drop();
    }
  });
});
