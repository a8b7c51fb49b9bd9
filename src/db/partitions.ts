/**
 * The partitions of `datapoints` (PROTOCOL.md §16): range partitions on `timestamp`, each
 * `HUB_PARTITION_DAYS` wide and aligned to the Unix epoch, kept in schema `partitions` and made
 * at least two widths ahead of now; a default partition (migration 0008) stores the rest.
 *
 * A partition is made as a plain table and then attached (`ATTACH PARTITION` locks the parent
 * only `SHARE UPDATE EXCLUSIVE`), never by `CREATE TABLE … PARTITION OF`, whose `ACCESS
 * EXCLUSIVE` lock on the parent would stall every COPY. Rows already in the default partition
 * that belong to a new partition move into it in the same transaction.
 * @see PROTOCOL.md §16
 */
import type pg from 'pg';

export const PARTITION_SCHEMA = 'partitions';
export const DEFAULT_PARTITION = 'datapoints_default';
export const DAY_MS = 86_400_000;
/** Widths made ahead of the one holding now. @see PROTOCOL.md §16 */
export const AHEAD_WIDTHS = 2;
/** A maintenance step waiting this long for a lock gives up until the next run (ingest goes first). */
const LOCK_TIMEOUT = '2s';

/** A range partition: its table name in schema `partitions` and its bounds in Unix ms, `[from, to)`. */
export interface PartitionRange {
  readonly name: string;
  readonly from: number;
  readonly to: number;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/** The range partitions of `datapoints`, oldest first (the default partition is not one). */
export async function listPartitions(q: Queryable): Promise<PartitionRange[]> {
  const { rows } = await q.query<{ name: string; from: number | null; to: number | null }>(
    `SELECT c.relname AS name,
            (extract(epoch FROM (regexp_match(b.bound, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz) * 1000)::float8 AS "from",
            (extract(epoch FROM (regexp_match(b.bound, 'TO \\(''([^'']+)''\\)'))[1]::timestamptz) * 1000)::float8 AS "to"
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) b
      WHERE i.inhparent = 'public.datapoints'::regclass AND b.bound <> 'DEFAULT'`,
  );
  // MINVALUE / MAXVALUE bounds (never made by the hub) count as unbounded.
  return rows
    .map((r) => ({ name: r.name, from: r.from ?? Number.NEGATIVE_INFINITY, to: r.to ?? Number.POSITIVE_INFINITY }))
    .sort((a, b) => a.from - b.from);
}

/** The start of the width-`widthDays` slot holding `ms` (slots are aligned to the Unix epoch). */
export function slotStart(ms: number, widthDays: number): number {
  const width = widthDays * DAY_MS;
  return Math.floor(ms / width) * width;
}

/** The parts of `[from, to)` that no existing partition covers, in order. */
export function uncovered(existing: readonly { from: number; to: number }[], from: number, to: number): { from: number; to: number }[] {
  const out: { from: number; to: number }[] = [];
  let at = from;
  for (const p of [...existing].sort((a, b) => a.from - b.from)) {
    if (p.to <= at || p.from >= to) continue;
    if (p.from > at) out.push({ from: at, to: p.from });
    at = Math.max(at, p.to);
    if (at >= to) break;
  }
  if (at < to) out.push({ from: at, to });
  return out;
}

/** The slots `[from, to)` to exist for `now`: the one holding now and `AHEAD_WIDTHS` after it. */
export function wantedSlots(now: number, widthDays: number): { from: number; to: number }[] {
  const width = widthDays * DAY_MS;
  const first = slotStart(now, widthDays);
  return Array.from({ length: AHEAD_WIDTHS + 1 }, (_, i) => ({ from: first + i * width, to: first + (i + 1) * width }));
}

/** A partition's table name: `datapoints_YYYYMMDD` of its start (UTC), with the hour and minute if not midnight. */
export function partitionName(from: number): string {
  const iso = new Date(from).toISOString();
  const day = iso.slice(0, 10).replaceAll('-', '');
  const time = iso.slice(11, 16).replace(':', '');
  return `datapoints_${day}${time === '0000' ? '' : `_${time}`}`;
}

/**
 * Makes the partitions missing for now and `AHEAD_WIDTHS` widths ahead (gaps only: partitions
 * of an earlier width, or the upgraded table, are left as they are). Returns the names made.
 */
export async function ensurePartitions(client: Queryable, widthDays: number, now = Date.now()): Promise<string[]> {
  const existing = await listPartitions(client);
  const made: string[] = [];
  for (const slot of wantedSlots(now, widthDays)) {
    for (const gap of uncovered(existing, slot.from, slot.to)) {
      const name = partitionName(gap.from);
      await createPartition(client, name, gap.from, gap.to);
      existing.push({ name, ...gap });
      made.push(name);
    }
  }
  return made;
}

/** Creates, fills from the default partition and attaches one partition, in one transaction. */
async function createPartition(client: Queryable, name: string, from: number, to: number): Promise<void> {
  const table = `"${PARTITION_SCHEMA}"."${name}"`;
  const fromIso = new Date(from).toISOString();
  const toIso = new Date(to).toISOString();
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
    // Attaching checks the default partition for rows of the new range, under this lock anyway;
    // taken first, no COPY can add such a row between the move below and the attach.
    await client.query(`LOCK TABLE "${PARTITION_SCHEMA}"."${DEFAULT_PARTITION}" IN ACCESS EXCLUSIVE MODE`);
    // Columns, NOT NULLs and defaults; indexes and foreign keys come with the attach.
    await client.query(`CREATE TABLE ${table} (LIKE public.datapoints INCLUDING DEFAULTS)`);
    // The attach then needs no scan of the new table to prove its rows fit.
    await client.query(`ALTER TABLE ${table} ADD CONSTRAINT "${name}_bound" CHECK ("timestamp" >= '${fromIso}' AND "timestamp" < '${toIso}')`);
    await client.query(
      `WITH gone AS (DELETE FROM "${PARTITION_SCHEMA}"."${DEFAULT_PARTITION}" WHERE "timestamp" >= $1 AND "timestamp" < $2 RETURNING *)
       INSERT INTO ${table} SELECT * FROM gone`,
      [fromIso, toIso],
    );
    await client.query(`ALTER TABLE public.datapoints ATTACH PARTITION ${table} FOR VALUES FROM ('${fromIso}') TO ('${toIso}')`);
    await client.query(`ALTER TABLE ${table} DROP CONSTRAINT "${name}_bound"`);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
