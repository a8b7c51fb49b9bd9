/** HUB_RETENTION_DAYS: whole partitions dropped and logged, old rows of the default partition deleted. @see PROTOCOL.md §16 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { DAY_MS, listPartitions, partitionName } from '../../src/db/partitions.js';
import { StorageMaintenance } from '../../src/db/storage-maintenance.js';
import { createLogger } from '../../src/log.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let event: string;
const DAY0 = Date.UTC(2031, 2, 10);

const maintenance = (now: number, retentionDays: number | null) =>
  new StorageMaintenance(db.pool, { widthDays: 1, retentionDays, log: createLogger('silent'), now: () => now });

const countWhere = async (sql: string, params: unknown[] = []): Promise<number> =>
  Number((await db.pool.query(`SELECT count(*) FROM datapoints WHERE ${sql}`, params)).rows[0].count);

beforeAll(async () => {
  db = await createTestDatabase();
  event = (await db.pool.query(`INSERT INTO events (name) VALUES ('r') RETURNING public_id`)).rows[0].public_id;
  // Partitions for DAY0 .. DAY0+4 (made as the days went by), 24 points in each day, and points
  // before DAY0 (the default partition).
  for (let d = 0; d <= 2; d++) await maintenance(DAY0 + d * DAY_MS, null).run();
  await db.pool.query(
    `INSERT INTO datapoints (event_public_id, value, "timestamp")
     SELECT $1, h, to_timestamp($2::float8 / 1000) + h * interval '1 hour' FROM generate_series(-48, 5 * 24 - 1) h`,
    [event, DAY0],
  );
});
afterAll(async () => {
  await db?.drop();
});

describe('retention', () => {
  it('keeps everything when HUB_RETENTION_DAYS is unset', async () => {
    const before = await countWhere('true');
    const { retention } = await maintenance(DAY0 + 2 * DAY_MS, null).run();
    expect(retention).toBeNull();
    expect((await listPartitions(db.pool)).length).toBe(5);
    expect(await countWhere('true')).toBe(before);
  });

  it('drops whole partitions older than the cutoff, never a partition it cuts through, and logs each drop', async () => {
    const total = await countWhere('true');
    // Cutoff: DAY0 + 2.5 days: days 0 and 1 go, day 2 (cut through) stays whole.
    const now = DAY0 + 2.5 * DAY_MS + 3 * DAY_MS;
    const { retention } = await maintenance(now, 3).run();
    expect(retention?.dropped.map((p) => p.name)).toEqual([partitionName(DAY0), partitionName(DAY0 + DAY_MS)]);
    const names = (await listPartitions(db.pool)).map((p) => p.name);
    expect(names).not.toContain(partitionName(DAY0));
    expect(names).toContain(partitionName(DAY0 + 2 * DAY_MS));
    // Day 2 keeps all its 24 points, also those older than the cutoff.
    expect(await countWhere(`"timestamp" >= $1 AND "timestamp" < $2`, [new Date(DAY0 + 2 * DAY_MS), new Date(DAY0 + 3 * DAY_MS)])).toBe(24);
    // The default partition's points (before DAY0) are older than the cutoff: deleted.
    expect(retention?.deletedFromDefault).toBe(48);
    expect(await countWhere('true')).toBe(total - 48 - 2 * 24);
    const log = await db.pool.query<{ content: string; logging_type: string }>(
      `SELECT content, logging_type FROM log_entries WHERE content LIKE 'Datapoints partition%' OR content LIKE '%default partition%' ORDER BY id`,
    );
    expect(log.rows.map((r) => r.content)).toEqual([
      expect.stringMatching(new RegExp(`^Datapoints partition ${partitionName(DAY0)} dropped \\(retention 3 days\\): points from 2031-03-10T00:00:00.000Z to 2031-03-11T00:00:00.000Z`)),
      expect.stringMatching(new RegExp(`^Datapoints partition ${partitionName(DAY0 + DAY_MS)} dropped`)),
      '48 datapoints older than 2031-03-12T12:00:00.000Z deleted from the default partition (retention 3 days)',
    ]);
    expect(log.rows.every((r) => r.logging_type === 'info')).toBe(true);
  });

  it('does nothing more when run again', async () => {
    const now = DAY0 + 5.5 * DAY_MS;
    const { retention } = await maintenance(now, 3).run();
    expect(retention?.dropped).toEqual([]);
    expect(retention?.deletedFromDefault).toBe(0);
  });
});

describe('storage configuration', () => {
  it('defaults to 1-day partitions and no retention, and refuses bad values', () => {
    expect(loadConfig({})).toMatchObject({ partitionDays: 1, retentionDays: null });
    expect(loadConfig({ HUB_PARTITION_DAYS: '7', HUB_RETENTION_DAYS: '90' })).toMatchObject({ partitionDays: 7, retentionDays: 90 });
    expect(() => loadConfig({ HUB_PARTITION_DAYS: '0', HUB_RETENTION_DAYS: 'forever' })).toThrow(/HUB_PARTITION_DAYS[\s\S]*HUB_RETENTION_DAYS/);
  });
});
