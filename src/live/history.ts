/**
 * Stored points for the live layer: `since` replays (in a snapshot that knows its commit
 * epoch), `datapoints.query` (raw or bucketed with date_bin on ix_datapoints_event_ts) and the
 * latest point per event.
 * @see PROTOCOL.md §7
 */
import { checkout, type Pool } from '../db/pool.js';
import type { Point } from './fanout.js';

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

/** Raw points, ascending, `from` inclusive, `to` exclusive, the first `limit`. */
export async function queryRaw(pool: Pool, q: QueryRange): Promise<Point[]> {
  const { rows } = await pool.query<{ ts: number; value: number }>(
    `SELECT (extract(epoch FROM "timestamp") * 1000)::float8 AS ts, value
       FROM datapoints
      WHERE event_public_id = $1
        AND ($2::float8 IS NULL OR "timestamp" >= to_timestamp($2::float8 / 1000))
        AND ($3::float8 IS NULL OR "timestamp" < to_timestamp($3::float8 / 1000))
      ORDER BY "timestamp", id
      LIMIT $4`,
    [q.event, q.from ?? null, q.to ?? null, q.limit],
  );
  return rows.map((r) => [r.ts, r.value]);
}

/** Buckets aligned to the Unix epoch: `[bucket_ts, min, max, avg, count]`, non-empty only. */
export async function queryBuckets(pool: Pool, q: QueryRange & { bucketMs: number }): Promise<[number, number, number, number, number][]> {
  const { rows } = await pool.query<{ bucket: number; min: number; max: number; avg: number; count: string }>(
    `SELECT (extract(epoch FROM date_bin(make_interval(secs => $4::float8 / 1000), "timestamp", 'epoch'::timestamptz)) * 1000)::float8 AS bucket,
            min(value) AS min, max(value) AS max, avg(value) AS avg, count(*) AS count
       FROM datapoints
      WHERE event_public_id = $1
        AND ($2::float8 IS NULL OR "timestamp" >= to_timestamp($2::float8 / 1000))
        AND ($3::float8 IS NULL OR "timestamp" < to_timestamp($3::float8 / 1000))
      GROUP BY 1
      ORDER BY 1
      LIMIT $5`,
    [q.event, q.from ?? null, q.to ?? null, q.bucketMs, q.limit],
  );
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
