/**
 * Retention of `datapoints` (`HUB_RETENTION_DAYS`): partitions wholly older than the cutoff are
 * dropped whole — never deleted row by row — each with a `log_entries` row in the same
 * transaction; points older than the cutoff in the default partition (which holds any time) are
 * deleted, the one row-wise delete, on a partition that is normally near empty.
 * @see PROTOCOL.md §16
 */
import type pg from 'pg';
import { DAY_MS, DEFAULT_PARTITION, listPartitions, PARTITION_SCHEMA, type PartitionRange } from './partitions.js';

/** Dropping a partition locks the whole table (ACCESS EXCLUSIVE): wait this long at most, then try again next run. */
const DROP_LOCK_TIMEOUT = '1s';

export interface RetentionResult {
  /** The cutoff in Unix ms: what is older goes. */
  readonly cutoff: number;
  readonly dropped: (PartitionRange & { readonly estimatedRows: number })[];
  readonly deletedFromDefault: number;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Drops the partitions that end at or before `now − retentionDays` and old rows of the default partition. */
export async function applyRetention(client: Queryable, retentionDays: number, now = Date.now()): Promise<RetentionResult> {
  const cutoff = now - retentionDays * DAY_MS;
  const dropped: RetentionResult['dropped'][number][] = [];
  for (const p of await listPartitions(client)) {
    if (p.to > cutoff) continue;
    await client.query('BEGIN');
    try {
      await client.query(`SET LOCAL lock_timeout = '${DROP_LOCK_TIMEOUT}'`);
      // Counting the rows would read the whole partition: the planner's estimate will do.
      const { rows } = await client.query<{ n: number }>(
        `SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = $1::regclass`,
        [`"${PARTITION_SCHEMA}"."${p.name}"`],
      );
      const estimatedRows = Math.round(rows[0]?.n ?? 0);
      await client.query(`DROP TABLE "${PARTITION_SCHEMA}"."${p.name}"`);
      await client.query(`INSERT INTO log_entries (content, logging_type, status_type) VALUES ($1, 'info', 'unread')`, [
        `Datapoints partition ${p.name} dropped (retention ${retentionDays} days): points from ${iso(p.from)} to ${iso(p.to)}, about ${estimatedRows} rows`,
      ]);
      await client.query('COMMIT');
      dropped.push({ ...p, estimatedRows });
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }
  const deleted = await client.query(
    `WITH gone AS (DELETE FROM "${PARTITION_SCHEMA}"."${DEFAULT_PARTITION}" WHERE "timestamp" < $1 RETURNING 1),
          counted AS (SELECT count(*)::int AS n FROM gone)
     INSERT INTO log_entries (content, logging_type, status_type)
     SELECT format('%s datapoints older than %s deleted from the default partition (retention %s days)', n, $2::text, $3::text), 'info', 'unread'
       FROM counted WHERE n > 0
     RETURNING (SELECT n FROM counted)`,
    [new Date(cutoff).toISOString(), iso(cutoff), String(retentionDays)],
  );
  const deletedFromDefault = Number((deleted.rows[0] as { n?: number } | undefined)?.n ?? 0);
  return { cutoff, dropped, deletedFromDefault };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
