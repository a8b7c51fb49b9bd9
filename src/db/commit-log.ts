/**
 * The commit log of several hubs (NATS_URL; PROTOCOL.md §15): each COPY batch writes its rows
 * with a batch id (`datapoints.commit_batch`) and one `ingest_commits` row — its epoch, hub,
 * batch id and time range — in the same statement that counts the epoch (`countAndLogSql`), so
 * a batch costs no extra round trip. After a bus outage a hub asks here for exactly the commits of the other hubs
 * that it missed (`missedCommits`), in commit order, and reads their rows by batch id inside
 * the batch's time range (the event/time index, partitions pruned).
 *
 * A lone hub writes neither: it has no one to miss anything.
 */
import { checkout, type Pool } from './pool.js';

/** How long commit rows are kept: an outage longer than this cannot be filled exactly. */
export const COMMIT_LOG_KEEP_MS = 60 * 60_000;
/** Batch ids are `hub number × 2^32 + count`; hub numbers wrap below 2^20 (ids stay exact doubles). */
const HUB_NUMBERS = 2 ** 20;
const PER_HUB = 2 ** 32;
const FILL_CHUNK = 5000;

/**
 * What a batch's transaction runs instead of a bare epoch count: the count and the batch's log
 * row in one statement (literals, not parameters: the writer sends it in one simple query with
 * the COMMIT). `minTs`/`maxTs` are the batch's earliest and latest point times (ms).
 */
export function countAndLogSql(hub: string, batch: number, minTs: number, maxTs: number): string {
  if (!Number.isSafeInteger(batch) || !Number.isFinite(minTs) || !Number.isFinite(maxTs)) throw new Error('commit log: bad batch');
  return `WITH counted AS (UPDATE ingest_epoch SET epoch = epoch + 1 RETURNING epoch)
INSERT INTO ingest_commits (epoch, hub, batch, min_ts, max_ts)
SELECT epoch, '${hub.replaceAll("'", "''")}', ${batch}, to_timestamp(${minTs}::float8 / 1000) - interval '1 millisecond', to_timestamp(${maxTs}::float8 / 1000) + interval '1 millisecond'
  FROM counted
RETURNING epoch`;
}

/** This hub's batch ids and its name in the log. */
export class CommitLog {
  private count = 0;

  private constructor(
    readonly hub: string,
    private readonly hubNumber: number,
  ) {}

  /** Takes a hub number from the database (once per process). */
  static async open(pool: Pool, hub: string): Promise<CommitLog> {
    const { rows } = await pool.query<{ n: string }>("SELECT nextval('ingest_hub_numbers') AS n");
    return new CommitLog(hub, Number(rows[0]?.n ?? 0) % HUB_NUMBERS);
  }

  /** A new batch id, unique among the hubs running now. */
  nextBatch(): number {
    this.count = (this.count + 1) % PER_HUB;
    return this.hubNumber * PER_HUB + this.count;
  }
}

/** The epoch of the last commit (any hub). */
export async function readEpoch(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ epoch: string }>('SELECT epoch FROM ingest_epoch LIMIT 1');
  return Number(rows[0]?.epoch ?? 0);
}

/** One stored point of a missed commit. */
export interface MissedRow {
  epoch: number;
  hub: string;
  event: string;
  ts: number;
  value: number;
}

/** Where each hub's missed commits start: the epoch after which they are read, by hub. */
export type HubBounds = (hubs: readonly string[]) => Map<string, number>;

/**
 * Streams the points of `events` committed by hubs other than `me`, each hub's after the bound
 * `bounds` gives it and up to the snapshot, in commit order (within a commit, in its COPY
 * order), chunk by chunk. The hubs are those in the log (a skip scan of its (hub, epoch) index),
 * each read by its own index range, so a quiet hub costs nothing. Returns the snapshot's epoch.
 */
export async function missedCommits(
  pool: Pool,
  q: { events: readonly string[]; me: string; bounds: HubBounds },
  onChunk: (rows: MissedRow[]) => void | Promise<void>,
): Promise<{ snapshot: number }> {
  const { client, release } = await checkout(pool);
  let failed: Error | undefined;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await client.query<{ epoch: string }>('SELECT epoch FROM ingest_epoch LIMIT 1');
    const snapshot = Number(rows[0]?.epoch ?? 0);
    const listed = await client.query<{ hub: string }>(
      `WITH RECURSIVE hubs(hub) AS (
         (SELECT hub FROM ingest_commits ORDER BY hub LIMIT 1)
         UNION ALL
         SELECT (SELECT c.hub FROM ingest_commits c WHERE c.hub > hubs.hub ORDER BY c.hub LIMIT 1) FROM hubs WHERE hubs.hub IS NOT NULL
       )
       SELECT hub FROM hubs WHERE hub IS NOT NULL AND hub <> $1`,
      [q.me],
    );
    const bounds = q.bounds(listed.rows.map((r) => r.hub));
    const hubs = [...bounds.keys()];
    const after = hubs.map((h) => bounds.get(h) as number);
    if (hubs.length > 0 && q.events.length > 0) {
      await client.query(
        `DECLARE missed NO SCROLL CURSOR FOR
           SELECT c.epoch, c.hub, d.event_public_id AS event, (extract(epoch FROM d."timestamp") * 1000)::float8 AS ts, d.value
             FROM unnest($1::text[], $2::bigint[]) AS b(hub, after)
             JOIN ingest_commits c ON c.hub = b.hub AND c.epoch > b.after AND c.epoch <= $3
             JOIN datapoints d ON d.commit_batch = c.batch AND d."timestamp" BETWEEN c.min_ts AND c.max_ts
            WHERE d.event_public_id = ANY($4::uuid[])
            ORDER BY c.epoch, d.id`,
        [hubs, after, snapshot, q.events],
      );
      for (;;) {
        const chunk = await client.query<{ epoch: string; hub: string; event: string; ts: number; value: number }>(`FETCH ${FILL_CHUNK} FROM missed`);
        if (chunk.rows.length > 0) await onChunk(chunk.rows.map((r) => ({ ...r, epoch: Number(r.epoch) })));
        if (chunk.rows.length < FILL_CHUNK) break;
      }
    }
    await client.query('COMMIT');
    return { snapshot };
  } catch (err) {
    failed = err instanceof Error ? err : new Error(String(err));
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    release(failed);
  }
}

/** Drops commit rows older than `keepMs`; returns how many. */
export async function purgeCommitLog(pool: Pool, keepMs: number = COMMIT_LOG_KEEP_MS): Promise<number> {
  const { rowCount } = await pool.query("DELETE FROM ingest_commits WHERE committed_at < now() - $1::float8 * interval '1 millisecond'", [keepMs]);
  return rowCount ?? 0;
}
