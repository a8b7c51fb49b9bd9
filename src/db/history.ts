/**
 * Stored points for the live layer: `since` replays (in a snapshot that knows its commit
 * epoch), `datapoints.query` (raw or bucketed with date_bin on ix_datapoints_event_ts) and the
 * latest point per event.
 *
 * Time bounds are written only when given, as constants of the query (`to_timestamp` of a
 * parameter is immutable), so the planner prunes `datapoints` to the partitions that overlap the
 * range; an `($n IS NULL OR …)` condition would make it read every partition.
 * @see PROTOCOL.md §7, §16
 */
import { checkout, type Pool } from './pool.js';

/** One stored point: `[ts, value]` (epoch ms). */
export type Point = [number, number];

const REPLAY_CHUNK = 5000;

/**
 * Streams every stored point of `events` with `ts > since`, ordered by time, chunk by chunk
 * (`onChunk` may wait, for a slow socket). Runs in one REPEATABLE READ snapshot whose first read
 * is the commit epoch: the replay holds exactly the commits up to that epoch.
 */
export async function replaySince(
  pool: Pool,
  events: readonly string[],
  since: number,
  onChunk: (rows: { event: string; ts: number; value: number }[]) => Promise<void>,
): Promise<number> {
  const { client, release } = await checkout(pool);
  let failed: Error | undefined;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await client.query<{ epoch: string }>('SELECT epoch FROM ingest_epoch LIMIT 1');
    const epoch = Number(rows[0]?.epoch ?? 0);
    await client.query(
      `DECLARE replay NO SCROLL CURSOR FOR
         SELECT event_public_id AS event, (extract(epoch FROM "timestamp") * 1000)::float8 AS ts, value
           FROM datapoints
          WHERE event_public_id = ANY($1::uuid[]) AND "timestamp" > to_timestamp($2::float8 / 1000)
          ORDER BY "timestamp", id`,
      [events, since],
    );
    for (;;) {
      const chunk = await client.query<{ event: string; ts: number; value: number }>(`FETCH ${REPLAY_CHUNK} FROM replay`);
      if (chunk.rows.length === 0) break;
      await onChunk(chunk.rows);
      if (chunk.rows.length < REPLAY_CHUNK) break;
    }
    await client.query('COMMIT');
    return epoch;
  } catch (err) {
    failed = err instanceof Error ? err : new Error(String(err));
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    release(failed);
  }
}

export interface QueryRange {
  event: string;
  from?: number;
  to?: number;
  limit: number;
}

/** A query's text and parameters. */
export interface QueryText {
  readonly text: string;
  readonly values: unknown[];
}

/** `event_public_id = $1` and the time bounds given: `from` inclusive, `to` exclusive. */
function rangeWhere(q: QueryRange, values: unknown[]): string {
  values.push(q.event);
  let where = 'event_public_id = $1';
  if (q.from !== undefined) {
    values.push(q.from);
    where += ` AND "timestamp" >= to_timestamp($${values.length}::float8 / 1000)`;
  }
  if (q.to !== undefined) {
    values.push(q.to);
    where += ` AND "timestamp" < to_timestamp($${values.length}::float8 / 1000)`;
  }
  return where;
}

/** The SQL of {@link queryRaw} (exported so a test can EXPLAIN it). */
export function rawQuery(q: QueryRange): QueryText {
  const values: unknown[] = [];
  const where = rangeWhere(q, values);
  values.push(q.limit);
  return {
    text: `SELECT (extract(epoch FROM "timestamp") * 1000)::float8 AS ts, value
             FROM datapoints
            WHERE ${where}
            ORDER BY "timestamp", id
            LIMIT $${values.length}`,
    values,
  };
}

/** The SQL of {@link queryBuckets}. */
export function bucketQuery(q: QueryRange & { bucketMs: number }): QueryText {
  const values: unknown[] = [];
  const where = rangeWhere(q, values);
  values.push(q.bucketMs, q.limit);
  const bucket = `$${values.length - 1}`;
  return {
    text: `SELECT (extract(epoch FROM date_bin(make_interval(secs => ${bucket}::float8 / 1000), "timestamp", 'epoch'::timestamptz)) * 1000)::float8 AS bucket,
                  min(value) AS min, max(value) AS max, avg(value) AS avg, count(*) AS count
             FROM datapoints
            WHERE ${where}
            GROUP BY 1
            ORDER BY 1
            LIMIT $${values.length}`,
    values,
  };
}

/** Raw points, ascending, `from` inclusive, `to` exclusive, the first `limit`. */
export async function queryRaw(pool: Pool, q: QueryRange): Promise<Point[]> {
  const { text, values } = rawQuery(q);
  const { rows } = await pool.query<{ ts: number; value: number }>(text, values);
  return rows.map((r) => [r.ts, r.value]);
}

/** Buckets aligned to the Unix epoch: `[bucket_ts, min, max, avg, count]`, non-empty only. */
export async function queryBuckets(pool: Pool, q: QueryRange & { bucketMs: number }): Promise<[number, number, number, number, number][]> {
  const { text, values } = bucketQuery(q);
  const { rows } = await pool.query<{ bucket: number; min: number; max: number; avg: number; count: string }>(text, values);
  return rows.map((r) => [r.bucket, r.min, r.max, r.avg, Number(r.count)]);
}

/** The latest point (by time) of every event that has one: one index probe per event. */
export async function loadLatest(pool: Pool): Promise<Map<string, Point>> {
  const { rows } = await pool.query<{ event: string; ts: number; value: number }>(
    `SELECT e.public_id AS event, d.ts, d.value
       FROM events e
       CROSS JOIN LATERAL (
         SELECT (extract(epoch FROM "timestamp") * 1000)::float8 AS ts, value
           FROM datapoints WHERE event_public_id = e.public_id
          ORDER BY "timestamp" DESC LIMIT 1) d`,
  );
  return new Map(rows.map((r) => [r.event, [r.ts, r.value]]));
}
