/**
 * Every foreign key's ON DELETE, checked twice: in information_schema (the complete list, so a
 * new key without an explicit rule fails here) and by deleting real parent rows.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { insertRow } from '../support/fixtures.js';

type Table = Parameters<typeof insertRow>[1];
interface ForeignKey {
  child: Table;
  column: string;
  parent: Table;
  rule: 'CASCADE' | 'SET NULL';
  /** Other parents the child row needs. */
  needs?: Partial<Record<string, Table>>;
  /** Kept by migration 0013's triggers rather than a FOREIGN KEY (the hot table's COPY cost). */
  byTrigger?: true;
}

const FOREIGN_KEYS: ForeignKey[] = [
  { child: 'datapoints', column: 'event_public_id', parent: 'events', rule: 'CASCADE', byTrigger: true },
  { child: 'datapoints', column: 'experiment_public_id', parent: 'experiments', rule: 'SET NULL', needs: { event_public_id: 'events' }, byTrigger: true },
  { child: 'rules', column: 'event_public_id', parent: 'events', rule: 'CASCADE' },
  { child: 'rules', column: 'user_public_id', parent: 'users', rule: 'SET NULL', needs: { event_public_id: 'events' } },
  { child: 'webhook_deliveries', column: 'webhook_public_id', parent: 'webhooks', rule: 'CASCADE' },
  { child: 'dashboard_widgets', column: 'dashboard_public_id', parent: 'dashboards', rule: 'CASCADE' },
  {
    child: 'dashboard_widgets',
    column: 'event_public_id',
    parent: 'events',
    rule: 'SET NULL',
    needs: { dashboard_public_id: 'dashboards' },
  },
  { child: 'channel_mappings', column: 'plugin_instance_public_id', parent: 'plugin_instances', rule: 'CASCADE' },
  {
    child: 'channel_mappings',
    column: 'event_public_id',
    parent: 'events',
    rule: 'SET NULL',
    needs: { plugin_instance_public_id: 'plugin_instances' },
  },
  { child: 'api_tokens', column: 'user_public_id', parent: 'users', rule: 'CASCADE' },
  {
    child: 'api_tokens',
    column: 'plugin_instance_public_id',
    parent: 'plugin_instances',
    rule: 'CASCADE',
    needs: { user_public_id: 'users' },
  },
  { child: 'dashboards', column: 'user_public_id', parent: 'users', rule: 'CASCADE' },
  { child: 'log_entries', column: 'user_public_id', parent: 'users', rule: 'SET NULL' },
  { child: 'events', column: 'user_public_id', parent: 'users', rule: 'SET NULL' },
  { child: 'experiments', column: 'user_public_id', parent: 'users', rule: 'SET NULL' },
  { child: 'firmware_updates', column: 'user_public_id', parent: 'users', rule: 'SET NULL' },
  { child: 'plugin_packages', column: 'user_public_id', parent: 'users', rule: 'SET NULL' },
  { child: 'webhooks', column: 'user_public_id', parent: 'users', rule: 'SET NULL' },
  { child: 'ingest_sequences', column: 'user_public_id', parent: 'users', rule: 'CASCADE' },
  { child: 'ingest_sequences', column: 'api_token_public_id', parent: 'api_tokens', rule: 'CASCADE' },
  { child: 'plugin_instances', column: 'firmware_update_public_id', parent: 'firmware_updates', rule: 'SET NULL' },
];

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

describe('foreign keys', () => {
  it('information_schema lists exactly these keys, each with its ON DELETE rule, all to public_id', async () => {
    const { rows } = await database.pool.query<{ child: string; column: string; parent: string; parent_column: string; rule: string }>(`
      SELECT kcu.table_name AS child, kcu.column_name AS column, ccu.table_name AS parent,
             ccu.column_name AS parent_column, rc.delete_rule AS rule
        FROM information_schema.referential_constraints rc
        JOIN information_schema.key_column_usage kcu
          ON kcu.constraint_name = rc.constraint_name AND kcu.constraint_schema = rc.constraint_schema
        JOIN information_schema.constraint_column_usage ccu
          ON ccu.constraint_name = rc.constraint_name AND ccu.constraint_schema = rc.constraint_schema
       WHERE rc.constraint_schema = 'public'`);
    const actual = rows.map((r) => `${r.child}.${r.column} -> ${r.parent}.${r.parent_column} ON DELETE ${r.rule}`).sort();
    const expected = FOREIGN_KEYS.filter((k) => k.byTrigger !== true)
      .map((k) => `${k.child}.${k.column} -> ${k.parent}.public_id ON DELETE ${k.rule}`)
      .sort();
    expect(actual).toEqual(expected);
  });

  describe.each(FOREIGN_KEYS)('$child.$column → $parent', (key) => {
    it(`ON DELETE ${key.rule}, for real`, async () => {
      const { db, pool } = database;
      // An API token (as parent or child) needs its owner.
      const parentValues = key.parent === 'api_tokens' ? { user_public_id: await insertRow(db, 'users') } : {};
      const parentId = await insertRow(db, key.parent, parentValues);
      const values: Record<string, unknown> = { [key.column]: parentId };
      for (const [column, table] of Object.entries(key.needs ?? {})) values[column] = await insertRow(db, table as Table);
      const childId = await insertRow(db, key.child, values);

      await pool.query(`DELETE FROM ${key.parent} WHERE public_id = $1`, [parentId]);

      const after = await pool.query(`SELECT ${key.column} AS ref FROM ${key.child} WHERE public_id = $1`, [childId]);
      if (key.rule === 'CASCADE') {
        expect(after.rowCount).toBe(0);
      } else {
        expect(after.rowCount).toBe(1);
        expect(after.rows[0].ref).toBeNull();
      }
    });
  });
});

describe('datapoints references (migration 0013: triggers, not foreign keys)', () => {
  it('refuses a row naming a missing event or experiment, as a foreign key would (23503, same detail)', async () => {
    const { db, pool } = database;
    const event = await insertRow(db, 'events');
    const missing = '0190a0a0-0000-7000-8000-000000000001';
    await expect(pool.query(`INSERT INTO datapoints (event_public_id, value, "timestamp") VALUES ($1, 1, now())`, [missing])).rejects.toMatchObject({
      code: '23503',
      detail: `Key (event_public_id)=(${missing}) is not present in table "events".`,
    });
    await expect(
      pool.query(`INSERT INTO datapoints (event_public_id, experiment_public_id, value, "timestamp") VALUES ($1, $2, 1, now())`, [event, missing]),
    ).rejects.toMatchObject({ code: '23503', detail: `Key (experiment_public_id)=(${missing}) is not present in table "experiments".` });
    const row = await insertRow(db, 'datapoints', { event_public_id: event });
    await expect(pool.query(`UPDATE datapoints SET event_public_id = $1 WHERE public_id = $2`, [missing, row])).rejects.toMatchObject({ code: '23503' });
    // An update that leaves the references alone is not checked again.
    await pool.query(`UPDATE datapoints SET value = 2 WHERE public_id = $1`, [row]);
  });

  it("holds a batch's references once: a missing one fails the call, present ones are locked against deletion", async () => {
    const { db, pool } = database;
    const event = await insertRow(db, 'events');
    const missing = '0190a0a0-0000-7000-8000-000000000002';
    const writer = await pool.connect();
    const deleter = await pool.connect();
    try {
      await writer.query('BEGIN');
      await expect(writer.query(`CALL hub_hold_datapoint_references($1::uuid[], NULL)`, [[event, missing]])).rejects.toMatchObject({
        code: '23503',
        detail: `Key (event_public_id)=(${missing}) is not present in table "events".`,
      });
      await writer.query('ROLLBACK');
      await writer.query('BEGIN');
      await writer.query(`SET LOCAL hub.datapoint_references_held = 'on'`);
      await writer.query(`CALL hub_hold_datapoint_references($1::uuid[], NULL)`, [[event]]);
      // Held: rows go in unchecked (the writer's COPY); a delete of the event waits for the commit,
      // then takes the rows with it.
      await writer.query(`INSERT INTO datapoints (event_public_id, value, "timestamp") VALUES ($1, 1, now())`, [event]);
      await deleter.query(`SET lock_timeout = '200ms'`);
      await expect(deleter.query(`DELETE FROM events WHERE public_id = $1`, [event])).rejects.toMatchObject({ code: '55P03' });
      await deleter.query(`SET lock_timeout = 0`);
      const deleted = deleter.query(`DELETE FROM events WHERE public_id = $1`, [event]);
      await writer.query('COMMIT');
      await deleted;
      expect((await pool.query(`SELECT count(*)::int AS n FROM datapoints WHERE event_public_id = $1`, [event])).rows[0].n).toBe(0);
      // Outside such a transaction the trigger checks again.
      await expect(pool.query(`INSERT INTO datapoints (event_public_id, value, "timestamp") VALUES ($1, 1, now())`, [event])).rejects.toMatchObject({ code: '23503' });
    } finally {
      writer.release();
      deleter.release();
    }
  });
});

describe('schema', () => {
  it('has every table of the data model, each with id, public_id and created_on', async () => {
    const { rows } = await database.pool.query<{ table_name: string; columns: string[] }>(`
      SELECT table_name, array_agg(column_name::text) AS columns
        FROM information_schema.columns WHERE table_schema = 'public'
       GROUP BY table_name`);
    const tables = Object.fromEntries(rows.map((r) => [r.table_name, r.columns]));
    expect(Object.keys(tables).sort()).toEqual(
      [
        'api_tokens',
        'blacklist_tokens',
        'channel_mappings',
        'dashboard_widgets',
        'dashboards',
        'datapoints',
        'events',
        'experiments',
        'firmware_updates',
        'ingest_commits',
        'ingest_epoch',
        'ingest_sequences',
        'log_entries',
        'plugin_instances',
        'plugin_packages',
        'rules',
        'users',
        'webhook_deliveries',
        'webhooks',
      ].sort(),
    );
    // ingest_commits is the hubs' own bookkeeping, not a table of the data model: one row per
    // COPY batch with several hubs (src/db/commit-log.ts), never served, keyed by its epoch.
    for (const [table, columns] of Object.entries(tables)) {
      if (table === 'ingest_commits') continue;
      expect(columns, table).toEqual(expect.arrayContaining(['id', 'public_id', 'created_on']));
    }
  });

  it('indexes datapoints by (event_public_id, timestamp) as ix_datapoints_event_ts', async () => {
    const { rows } = await database.pool.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE tablename = 'datapoints' AND indexname = 'ix_datapoints_event_ts'`,
    );
    // With value, so bucketed history is an index-only scan (migration 0013).
    expect(rows[0]?.indexdef).toMatch(/\(event_public_id, "timestamp"\) INCLUDE \(value\)/);
  });

  it('lets at most one experiment run at a time', async () => {
    await insertRow(database.db, 'experiments', { stopped_on: null });
    await expect(insertRow(database.db, 'experiments', { stopped_on: null })).rejects.toThrow();
    await database.pool.query('DELETE FROM experiments');
  });

  it('defaults created_on to now() and public_id to a UUID in the database', async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const { rows } = await client.query(`INSERT INTO events (name) VALUES ('raw-insert') RETURNING public_id, created_on`);
    await client.end();
    expect(rows[0].public_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(new Date(rows[0].created_on).getTime() - Date.now())).toBeLessThan(60_000);
  });
});
