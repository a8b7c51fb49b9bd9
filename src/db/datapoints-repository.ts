/**
 * `datapoints.get` and `.delete` on the partitioned table: the hub's datapoint ids are UUIDv7s
 * carrying the millisecond of the point's own `timestamp` (ingest/copy-encoder.ts), so the lookup
 * names that millisecond and PostgreSQL reads one partition. Ids that carry no such time (rows of
 * a table upgraded from before partitioning, rows inserted by hand) are looked up in every
 * partition, one primary-key probe each.
 * @see PROTOCOL.md §16
 */
import { and, gte, lt, type SQL } from 'drizzle-orm';
import { HubError } from '../errors.js';
import type { Db } from './database.js';
import { Repository, type Row } from './repository.js';
import { datapoints } from './schema.js';

/** The Unix milliseconds a UUIDv7 (canonical text) carries, or null for another version. */
export function uuid7Time(uuid: string): number | null {
  if (uuid.length !== 36 || uuid[14] !== '7') return null;
  const ms = Number.parseInt(uuid.slice(0, 8) + uuid.slice(9, 13), 16);
  return Number.isFinite(ms) ? ms : null;
}

type DatapointsTable = typeof datapoints;

export class DatapointsRepository extends Repository<DatapointsTable> {
  constructor(db: Db, entity: string) {
    super(db, datapoints, entity);
  }

  override async getOr404(publicId: unknown, scope?: SQL): Promise<Row<DatapointsTable>> {
    const near = ownMillisecond(publicId);
    if (near !== undefined) {
      try {
        return await super.getOr404(publicId, and(scope, near));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return super.getOr404(publicId, scope);
  }

  override async deleteByPublicId(publicId: unknown, scope?: SQL): Promise<{ status: 'success'; message: string }> {
    const near = ownMillisecond(publicId);
    if (near !== undefined) {
      try {
        return await super.deleteByPublicId(publicId, and(scope, near));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return super.deleteByPublicId(publicId, scope);
  }
}

/** `timestamp` within the millisecond a hub-made id carries (one partition), or undefined. */
function ownMillisecond(publicId: unknown): SQL | undefined {
  if (typeof publicId !== 'string') return undefined;
  const ms = uuid7Time(publicId.toLowerCase());
  if (ms === null) return undefined;
  return and(gte(datapoints.timestamp, new Date(ms)), lt(datapoints.timestamp, new Date(ms + 1)));
}

function isNotFound(err: unknown): boolean {
  return err instanceof HubError && err.code === 'not_found';
}
