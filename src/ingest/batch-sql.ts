/**
 * The statement texts of a COPY batch's transaction that are built per batch (src/ingest/copy-writer.ts
 * sends them): the commit epoch, the batch's references (migration 0013) and its time range. They
 * go in simple queries of several statements, one round trip each, so values are inlined: only
 * UUIDs and integers, each checked.
 */
import type pg from 'pg';
import type { EventRef } from './catalog.js';
import type { PendingIngest } from './queue.js';

/** Counts the commit epoch (see ingest_epoch); sent with the COMMIT. */
export const EPOCH_SQL = 'UPDATE ingest_epoch SET epoch = epoch + 1 RETURNING epoch';

/** The epoch from the results of a simple query of several statements (or of one). */
export function epochOf(results: pg.QueryResult | pg.QueryResult[]): number {
  const list = Array.isArray(results) ? results : [results];
  const counted = list.find((r) => r.rows.length > 0 && 'epoch' in (r.rows[0] as object));
  return Number((counted?.rows[0] as { epoch?: string } | undefined)?.epoch ?? 0);
}

/** The earliest and latest point time of a batch (ms), for its commit log row. */
export function timeRange(messages: readonly PendingIngest[]): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const m of messages) {
    const ts = m.points.ts;
    for (let i = 0; i < m.points.count; i++) {
      const t = ts[i] as number;
      if (t < min) min = t;
      if (t > max) max = t;
    }
  }
  return [min, max];
}

/**
 * Tells migration 0013's row trigger that this transaction holds its rows' references itself: it
 * must then call {@link holdReferencesSql} before COMMIT.
 */
export const SKIP_ROW_REFERENCE_CHECKS = `SET LOCAL hub.datapoint_references_held = 'on'`;

/** The distinct events of some messages' points (consecutive points mostly share theirs). */
export function eventsOf(messages: readonly PendingIngest[]): Set<string> {
  const ids = new Set<string>();
  for (const m of messages) {
    let last: EventRef | undefined;
    for (const e of m.points.events) {
      if (e === last) continue;
      last = e;
      ids.add(e.id);
    }
  }
  return ids;
}

/** A UUID as text: the only thing besides integers a batch's statements inline. */
export const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The call that holds a batch's references (migration 0013): its distinct events and the running
 * experiment are locked FOR KEY SHARE until COMMIT, and the call fails with 23503, as a foreign key
 * would, when one is gone. Made after the COPY, just before COMMIT (a deferred check): rows locked
 * before the COPY could deadlock with a delete of their event waiting on a lock the COPY needs.
 * Only UUIDs are inlined, each checked.
 */
export function holdReferencesSql(events: Iterable<string>, experiment: string | null): string {
  const ids = [...events];
  for (const id of ids) if (!UUID_TEXT.test(id)) throw new Error(`not an event id: ${JSON.stringify(id)}`);
  if (experiment !== null && !UUID_TEXT.test(experiment)) throw new Error(`not an experiment id: ${JSON.stringify(experiment)}`);
  return `CALL hub_hold_datapoint_references('{${ids.join(',')}}'::uuid[], ${experiment === null ? 'NULL' : `'${experiment}'`}::uuid)`;
}
