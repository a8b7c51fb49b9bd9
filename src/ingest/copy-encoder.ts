/**
 * PostgreSQL's binary COPY format for `datapoints`, encoded into one buffer per batch with no
 * per-row allocation: (public_id uuid, event_public_id uuid, experiment_public_id uuid,
 * value float8, timestamp timestamptz), and with several hubs the batch id (commit_batch int8) by
 * which the gap fill finds a commit's rows (src/db/commit-log.ts).
 * @see https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
 */
import type { Uuid7Generator } from './uuid7.js';

export const COPY_DATAPOINTS_SQL =
  'COPY datapoints (public_id, event_public_id, experiment_public_id, value, "timestamp") FROM STDIN (FORMAT binary)';
/** The same with each row's batch id (several hubs). */
export const COPY_DATAPOINTS_BATCH_SQL =
  'COPY datapoints (public_id, event_public_id, experiment_public_id, value, "timestamp", commit_batch) FROM STDIN (FORMAT binary)';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_BYTES = SIGNATURE.length + 4 + 4;
const TRAILER_BYTES = 2;
const FIELDS = 5;
/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_MS = 946_684_800_000;
const TWO_32 = 2 ** 32;

/** Bytes of one row: field count, then each field's length and bytes. */
export function rowBytes(withExperiment: boolean, withBatch = false): number {
  return 2 + (4 + 16) + (4 + 16) + (withExperiment ? 4 + 16 : 4) + (4 + 8) + (4 + 8) + (withBatch ? 4 + 8 : 0);
}

/** Rows to encode: parallel arrays, as the ingest messages keep them. */
export interface RowSource {
  readonly count: number;
  /** 16-byte event ids, one per row. */
  readonly events: readonly Buffer[];
  readonly values: Float64Array;
  /** Epoch milliseconds (may have a fraction). */
  readonly ts: Float64Array;
}

/**
 * Encodes whole sources into one COPY payload (header, rows, trailer); with `batch` (a
 * non-negative integer below 2^53), each row also carries it, for COPY_DATAPOINTS_BATCH_SQL.
 */
export function encodeCopy(sources: readonly RowSource[], experiment: Buffer | null, ids: Uuid7Generator, batch?: number): Buffer {
  let rows = 0;
  for (const s of sources) rows += s.count;
  const withBatch = batch !== undefined;
  const batchHigh = withBatch ? Math.floor(batch / TWO_32) : 0;
  const batchLow = withBatch ? batch - batchHigh * TWO_32 : 0;
  const fields = withBatch ? FIELDS + 1 : FIELDS;
  const buf = Buffer.allocUnsafe(HEADER_BYTES + rows * rowBytes(experiment !== null, withBatch) + TRAILER_BYTES);
  SIGNATURE.copy(buf, 0);
  buf.writeInt32BE(0, SIGNATURE.length); // flags
  buf.writeInt32BE(0, SIGNATURE.length + 4); // header extension length
  let o = HEADER_BYTES;
  for (const s of sources) {
    const { events, values, ts } = s;
    for (let i = 0; i < s.count; i++) {
      // int64 microseconds since 2000-01-01, written below as two 32-bit halves (no BigInt).
      const us = Math.round(((ts[i] as number) - PG_EPOCH_MS) * 1000);
      buf.writeInt16BE(fields, o);
      buf.writeInt32BE(16, o + 2);
      // The id carries the stored time's millisecond: `datapoints.get` finds its partition.
      ids.writeAt(buf, o + 6, Math.floor(us / 1000) + PG_EPOCH_MS);
      buf.writeInt32BE(16, o + 22);
      (events[i] as Buffer).copy(buf, o + 26);
      o += 42;
      if (experiment === null) {
        buf.writeInt32BE(-1, o);
        o += 4;
      } else {
        buf.writeInt32BE(16, o);
        experiment.copy(buf, o + 4);
        o += 20;
      }
      buf.writeInt32BE(8, o);
      buf.writeDoubleBE(values[i] as number, o + 4);
      const high = Math.floor(us / TWO_32);
      buf.writeInt32BE(8, o + 12);
      buf.writeInt32BE(high, o + 16);
      buf.writeUInt32BE(us - high * TWO_32, o + 20);
      o += 24;
      if (withBatch) {
        buf.writeInt32BE(8, o);
        buf.writeUInt32BE(batchHigh, o + 4);
        buf.writeUInt32BE(batchLow, o + 8);
        o += 12;
      }
    }
  }
  buf.writeInt16BE(-1, o);
  return buf;
}
