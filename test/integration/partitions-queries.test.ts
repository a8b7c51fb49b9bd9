/**
 * Reading the partitioned `datapoints` through the hub: partitions exist once the hub has started,
 * `datapoints.get` / `.delete` by public_id in any partition, history across a partition edge,
 * and a time range reads only the partitions that overlap it.
 * @see PROTOCOL.md §7, §16
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { uuid7Time } from '../../src/db/datapoints-repository.js';
import { rawQuery } from '../../src/db/history.js';
import { DAY_MS, listPartitions, partitionName, slotStart } from '../../src/db/partitions.js';
import { startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
let h: TestHub;
let admin: HubClient;
let event: string;
/** The next UTC midnight: the edge between today's partition and tomorrow's. */
let edge: number;
/** Point times: two days ago (the default partition), and around the edge. */
let times: number[];

beforeAll(async () => {
  h = await startTestHub();
  admin = await h.connect(h.adminToken);
  event = (await admin.request<Rec>('events.create', { name: 'edge' })).public_id;
  edge = slotStart(Date.now(), 1) + DAY_MS;
  times = [edge - 2 * DAY_MS, edge - 1500.25, edge - 0.5, edge, edge + 0.75, edge + 1500];
  await admin.request('ingest', { points: times.map((ts, i) => ({ event, value: i, ts })) });
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

async function stored(): Promise<{ public_id: string; ts: number; part: string }[]> {
  const { rows } = await h.database.pool.query(
    `SELECT public_id, (extract(epoch FROM "timestamp") * 1000)::float8 AS ts, tableoid::regclass::text AS part
       FROM datapoints WHERE event_public_id = $1 ORDER BY "timestamp"`,
    [event],
  );
  return rows;
}

describe('partitioned datapoints through the hub', () => {
  it('has today\'s partition and two days ahead once the hub has started', async () => {
    const names = (await listPartitions(h.database.pool)).map((p) => p.name);
    for (let d = 0; d < 3; d++) expect(names).toContain(partitionName(edge - DAY_MS + d * DAY_MS));
  });

  it('stores each point in the partition of its time, with an id carrying that time', async () => {
    const rows = await stored();
    expect(rows.map((r) => r.part)).toEqual([
      'partitions.datapoints_default',
      `partitions.${partitionName(edge - DAY_MS)}`,
      `partitions.${partitionName(edge - DAY_MS)}`,
      `partitions.${partitionName(edge)}`,
      `partitions.${partitionName(edge)}`,
      `partitions.${partitionName(edge)}`,
    ]);
    for (const r of rows) expect(uuid7Time(r.public_id)).toBe(Math.floor(r.ts));
  });

  it('gets and deletes a datapoint by public_id in any partition', async () => {
    const rows = await stored();
    for (const [i, r] of rows.entries()) {
      const got = await admin.request<Rec>('datapoints.get', { public_id: r.public_id });
      expect(got).toMatchObject({ public_id: r.public_id, event_public_id: event, value: i });
    }
    // A row whose id carries no time (inserted by hand, or from before partitioning) is found too.
    const { rows: manual } = await h.database.pool.query(
      `INSERT INTO datapoints (event_public_id, value, "timestamp") VALUES ($1, 99, $2) RETURNING public_id`,
      [event, new Date(edge + 10)],
    );
    expect(await admin.request<Rec>('datapoints.get', { public_id: manual[0].public_id })).toMatchObject({ value: 99 });
    expect(await admin.request('datapoints.delete', { public_id: manual[0].public_id })).toEqual({ status: 'success', message: 'Datapoint deleted' });

    const victim = rows[3] as { public_id: string };
    expect(await admin.request('datapoints.delete', { public_id: victim.public_id })).toEqual({ status: 'success', message: 'Datapoint deleted' });
    await expect(admin.request('datapoints.get', { public_id: victim.public_id })).rejects.toMatchObject({ status: 404 });
    await expect(admin.request('datapoints.delete', { public_id: victim.public_id })).rejects.toMatchObject({ status: 404 });
    expect((await stored()).map((r) => r.public_id)).toEqual(rows.filter((r) => r !== victim).map((r) => r.public_id));
    // Put it back for the queries below.
    await admin.request('ingest', { points: [{ event, value: 3, ts: edge }] });
  });

  it('lists datapoints of every partition, filtered and paged', async () => {
    const page = await admin.request<Rec>('datapoints.list', { filter: { event_public_id: event }, page_size: 4 });
    expect(page).toMatchObject({ total: times.length, pages: 2 });
    const rest = await admin.request<Rec>('datapoints.list', { filter: { event_public_id: event }, page_size: 4, page: 2 });
    const ids = [...page.items, ...rest.items].map((r: Rec) => r.public_id);
    expect(new Set(ids).size).toBe(times.length);
  });

  it('answers datapoints.query across the partition edge, raw and bucketed', async () => {
    const { points } = await admin.request<{ points: [number, number][] }>('datapoints.query', { event_public_id: event, from: edge - 2000, to: edge + 2000 });
    expect(points).toEqual(times.slice(1).map((ts, i) => [ts, i + 1]));
    const { buckets } = await admin.request<{ buckets: number[][] }>('datapoints.query', {
      event_public_id: event,
      from: edge - 2000,
      to: edge + 2000,
      bucket_ms: 1000,
    });
    expect(buckets).toEqual([
      [edge - 2000, 1, 1, 1, 1],
      [edge - 1000, 2, 2, 2, 1],
      [edge, 3, 4, 3.5, 2],
      [edge + 1000, 5, 5, 5, 1],
    ]);
    const { points: all } = await admin.request<{ points: unknown[] }>('datapoints.query', { event_public_id: event });
    expect(all).toHaveLength(times.length);
  });

  it('reads only the partitions a time range overlaps', async () => {
    const scanned = async (from?: number, to?: number): Promise<string[]> => {
      const { text, values } = rawQuery({ event, from, to, limit: 10 });
      const { rows } = await h.database.pool.query(`EXPLAIN (FORMAT JSON) ${text}`, values);
      const names = new Set<string>();
      const walk = (node: Rec): void => {
        if (typeof node['Relation Name'] === 'string') names.add(node['Relation Name']);
        for (const child of node.Plans ?? []) walk(child);
      };
      walk(rows[0]['QUERY PLAN'][0].Plan);
      return [...names].sort();
    };
    expect(await scanned(edge + 1000, edge + 2000)).toEqual([partitionName(edge)]);
    expect(await scanned(edge - 1000, edge + 1000)).toEqual([partitionName(edge - DAY_MS), partitionName(edge)].sort());
    expect(await scanned(edge - 3 * DAY_MS, edge - 2 * DAY_MS + 1)).toEqual(['datapoints_default']);
    expect((await scanned()).length).toBe((await listPartitions(h.database.pool)).length + 1);
  });
});
