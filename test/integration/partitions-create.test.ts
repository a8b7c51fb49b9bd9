/** Partitions of `datapoints`: made ahead, gaps only, the default partition, rows at the edges. @see PROTOCOL.md §16 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { DAY_MS, listPartitions, partitionName, uncovered } from '../../src/db/partitions.js';
import { StorageMaintenance } from '../../src/db/storage-maintenance.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let event: string;
/** A fixed "now": 2031-03-10 13:00 UTC. */
const NOW = Date.UTC(2031, 2, 10, 13);
const DAY0 = Date.UTC(2031, 2, 10);

const maintenance = (now: number, widthDays = 1) =>
  new StorageMaintenance(db.pool, { widthDays, retentionDays: null, log: createLogger('silent'), now: () => now });

/** Which partition a row of `ts` is stored in. */
async function partitionOf(ts: number): Promise<string> {
  const { rows } = await db.pool.query<{ part: string }>(
    `INSERT INTO datapoints (event_public_id, value, "timestamp") VALUES ($1, 1, $2) RETURNING tableoid::regclass::text AS part`,
    [event, new Date(ts)],
  );
  return rows[0]?.part as string;
}

beforeAll(async () => {
  db = await createTestDatabase();
  event = (await db.pool.query(`INSERT INTO events (name) VALUES ('p') RETURNING public_id`)).rows[0].public_id;
});
afterAll(async () => {
  await db?.drop();
});

describe('datapoints partitions', () => {
  it('are made for the width holding now and two widths ahead, once', async () => {
    const first = await maintenance(NOW).run();
    expect(first.created).toEqual([partitionName(DAY0), partitionName(DAY0 + DAY_MS), partitionName(DAY0 + 2 * DAY_MS)]);
    expect(first.created[0]).toBe('datapoints_20310310');
    expect((await maintenance(NOW).run()).created).toEqual([]);
    // A day later, one more.
    expect((await maintenance(NOW + DAY_MS).run()).created).toEqual([partitionName(DAY0 + 3 * DAY_MS)]);
    const parts = await listPartitions(db.pool);
    expect(parts.map((p) => [p.from, p.to])).toEqual([0, 1, 2, 3].map((i) => [DAY0 + i * DAY_MS, DAY0 + (i + 1) * DAY_MS]));
  });

  it('store a row at a boundary in the later partition, and a time outside every partition in the default one', async () => {
    const boundary = DAY0 + DAY_MS;
    expect(await partitionOf(boundary)).toBe(`partitions.${partitionName(boundary)}`);
    expect(await partitionOf(boundary - 0.001)).toBe(`partitions.${partitionName(DAY0)}`);
    expect(await partitionOf(DAY0 - 1)).toBe('partitions.datapoints_default');
    expect(await partitionOf(DAY0 + 30 * DAY_MS)).toBe('partitions.datapoints_default');
  });

  it('take over the rows the default partition holds for their range when they are made', async () => {
    const later = DAY0 + 30 * DAY_MS; // a row was stored there by the test above
    const before = Number((await db.pool.query('SELECT count(*) FROM datapoints')).rows[0].count);
    const { created } = await maintenance(later).run();
    expect(created).toContain(partitionName(later));
    const { rows } = await db.pool.query(`SELECT tableoid::regclass::text AS part FROM datapoints WHERE "timestamp" = $1`, [new Date(later)]);
    expect(rows).toEqual([{ part: `partitions.${partitionName(later)}` }]);
    expect(Number((await db.pool.query('SELECT count(*) FROM datapoints')).rows[0].count)).toBe(before);
  });

  it('of a new width fill only the gaps between existing ones', async () => {
    // Width 7 from day 0: the 7-day slots holding now overlap the 1-day partitions made above.
    const { created } = await maintenance(NOW, 7).run();
    const parts = await listPartitions(db.pool);
    for (let i = 1; i < parts.length; i++) expect(parts[i]?.from).toBeGreaterThanOrEqual(parts[(i - 1) as number]?.to as number);
    // Every moment from now to two widths ahead has a partition.
    expect(uncovered(parts, NOW, NOW + 14 * DAY_MS)).toEqual([]);
    expect(created.length).toBeGreaterThan(0);
  });

  it('uncovered() finds gaps before, between and after partitions', () => {
    const parts = [
      { from: 10, to: 20 },
      { from: 30, to: 40 },
    ];
    expect(uncovered(parts, 0, 50)).toEqual([
      { from: 0, to: 10 },
      { from: 20, to: 30 },
      { from: 40, to: 50 },
    ]);
    expect(uncovered(parts, 12, 18)).toEqual([]);
    expect(uncovered(parts, 15, 35)).toEqual([{ from: 20, to: 30 }]);
  });
});
