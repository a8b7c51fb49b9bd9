/**
 * The one place PostgreSQL errors become hub errors (SQLSTATE → error registry). Messages name
 * entities and columns, never SQL, parameters or values that might be secrets.
 * @see PROTOCOL.md §4
 */
import { HubError, notFound } from '../errors.js';
import { entityNameOfTable } from './entities.js';

/** The fields of a node-postgres `DatabaseError` we read. */
interface PgErrorLike {
  code: string;
  table?: string;
  column?: string;
  constraint?: string;
  detail?: string;
}

/** The PostgreSQL error inside `err` (drizzle wraps it in DrizzleQueryError), if any. */
export function findPgError(err: unknown): PgErrorLike | undefined {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && 'severity' in e) return e as unknown as PgErrorLike;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Network-level failures to reach the server (node's errno codes). */
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'ENOENT', 'EHOSTUNREACH']);

/** Is the database unreachable or going away, rather than refusing this one statement? */
export function isConnectionError(err: unknown): boolean {
  const pgErr = findPgError(err);
  if (pgErr !== undefined) {
    // 08: connection exception; 57P01..03: admin/crash shutdown, cannot connect now; 53300: too many connections.
    return pgErr.code.startsWith('08') || /^57P0[1-3]$/.test(pgErr.code) || pgErr.code === '53300';
  }
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_ERRNOS.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect/i.test(message)) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Constraints whose violation deserves its own message. */
const CONSTRAINT_MESSAGES: Record<string, string> = {
  ux_experiments_one_running: 'Another experiment is already running; stop it first',
  uq_channel_mappings_instance_channel: 'ChannelMapping with this channel id already exists for the plugin instance',
};

/** `Key (name)=(x)` → `name`; a composite key gives `plugin_instance_public_id, channel_id`. */
function keyColumns(detail: string | undefined): string | undefined {
  return detail?.match(/^Key \(([^)]*)\)=/)?.[1];
}

/**
 * Maps a database error met while working on `entity` to the hub error a client should see.
 * Errors that are not PostgreSQL's (bugs) come back as `internal`, keeping their cause.
 */
export function mapDbError(err: unknown, entity: string): HubError {
  if (err instanceof HubError) return err;
  if (isConnectionError(err)) {
    return new HubError('busy', 'The database is unavailable; retry later', { retryAfterMs: 1000, cause: err });
  }
  const pgErr = findPgError(err);
  if (pgErr === undefined) return new HubError('internal', undefined, { cause: err });
  switch (pgErr.code) {
    case '23505': {
      const special = pgErr.constraint === undefined ? undefined : CONSTRAINT_MESSAGES[pgErr.constraint];
      if (special !== undefined) return new HubError('conflict', special, { cause: err });
      const columns = keyColumns(pgErr.detail);
      const what = columns === undefined ? 'these values' : `this ${columns.replaceAll('_public_id', '').replaceAll('_', ' ')}`;
      return new HubError('conflict', `${entity} with ${what} already exists`, { cause: err });
    }
    case '23503': {
      // Insert/update naming a missing parent: `Key (event_public_id)=(…) is not present in table "events".`
      const missing = pgErr.detail?.match(/^Key \(([^)]*)\)=\(([^)]*)\) is not present in table "([^"]+)"/);
      if (missing !== undefined && missing !== null) {
        const [, , value, table] = missing;
        return notFound(entityNameOfTable(table ?? ''), value ?? '');
      }
      return new HubError('conflict', `${entity} is still referenced by other records`, { cause: err });
    }
    case '23502':
      return new HubError('invalid', 'Validation failed', {
        details: [{ path: `/${pgErr.column ?? ''}`, message: 'is required' }],
        cause: err,
      });
    case '23514':
      return new HubError('invalid', `${entity} violates the rule ${pgErr.constraint ?? 'of its table'}`, { cause: err });
    case '22P02': // invalid text representation (a malformed uuid, number, enum)
    case '22003': // numeric value out of range
    case '22007': // invalid datetime format
    case '22008': // datetime field overflow
    case '22001': // string too long for its column
    case '22021': // invalid byte sequence (NUL in text)
    case '22P05': // untranslatable character
      return new HubError('invalid', `A value has the wrong form for ${entity}`, { cause: err });
    case '57014': // statement_timeout: a request that would hold a connection too long
      return new HubError('busy', `The query took too long and was cancelled; narrow it (a filter, a smaller page) or retry later`, {
        retryAfterMs: 1000,
        cause: err,
      });
    case '40001':
    case '40P01':
      return new HubError('busy', 'A concurrent change got in the way; retry', { retryAfterMs: 50, cause: err });
    default:
      return new HubError('internal', undefined, { cause: err });
  }
}
