/**
 * The single-hub guard (PROTOCOL.md §15): without NATS a hub's live pushes, revocations,
 * presence and commands reach only its own sockets, so a second hub on the same database would
 * silently split the clients in two. Every hub therefore holds one PostgreSQL advisory lock for
 * the life of the process, on a connection of its own: a hub without `NATS_URL` holds it
 * exclusively, a hub with `NATS_URL` shares it. A hub without NATS next to any other hub, or a
 * hub with NATS next to a hub without, refuses to start.
 *
 * Advisory locks are per database, and released by PostgreSQL when the holding session ends
 * (a hub killed with SIGKILL releases it at once). If the guard's connection is lost while the
 * hub runs (database restart), it takes the lock again as soon as it can; it logs loudly if
 * another hub took it meanwhile, as there is nothing safer for a running hub to do.
 * @see PROTOCOL.md §15
 */
import type { Logger } from 'pino';
import { createPool, type Pool, type PoolClient } from '../db/pool.js';

/** The lock's key: arbitrary, fixed, shared by every hub version. ("hubguard" in ASCII, trimmed.) */
export const GUARD_LOCK_KEY = 0x6875_6267_7561_7264n & 0x7fff_ffff_ffff_ffffn;

/** A second hub without NATS (or a NATS hub next to a lone hub): the process exits with code 2. */
export class SingleHubError extends Error {
  readonly exitCode = 2;
  constructor(clustered: boolean) {
    super(
      clustered
        ? 'Another hub runs on this database without NATS_URL and must stay the only one: stop it, or restart it with the same NATS_URL as this hub (PROTOCOL.md §15).'
        : 'Another hub already runs on this database. Several hubs on one database need NATS_URL (the same NATS for all of them), or this hub needs a database of its own (PROTOCOL.md §15).',
    );
    this.name = 'SingleHubError';
  }
}

export interface SingleHubGuard {
  /** Releases the lock (closes its connection). Idempotent. */
  release(): Promise<void>;
}

const RETRY_MS = 5_000;

/** Takes the guard's lock (shared when `clustered`) or throws SingleHubError. */
export async function acquireSingleHubGuard(databaseUrl: string, clustered: boolean, log: Logger): Promise<SingleHubGuard> {
  const pool: Pool = createPool(databaseUrl, { max: 1, applicationName: 'telemetry-hub-guard' });
  pool.on('error', () => undefined);
  let client: PoolClient | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const sql = clustered ? 'SELECT pg_try_advisory_lock_shared($1::bigint) AS ok' : 'SELECT pg_try_advisory_lock($1::bigint) AS ok';

  const take = async (): Promise<boolean> => {
    const c = await pool.connect();
    // The connection lives as long as the process: its loss is handled here, never thrown.
    c.on('error', (err) => {
      if (closed) return;
      log.warn({ err }, 'single-hub guard: its database connection was lost; taking the lock again');
      c.release(err);
      if (client === c) client = undefined;
      schedule();
    });
    try {
      const { rows } = await c.query<{ ok: boolean }>(sql, [GUARD_LOCK_KEY.toString()]);
      if (rows[0]?.ok !== true) {
        c.release();
        return false;
      }
    } catch (err) {
      c.release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    client = c;
    return true;
  };
  const schedule = (): void => {
    if (closed || retry !== undefined) return;
    retry = setTimeout(() => {
      retry = undefined;
      take().then(
        (ok) => {
          if (ok) log.info('single-hub guard: lock taken again');
          else log.error(new SingleHubError(clustered).message);
        },
        () => schedule(),
      );
    }, RETRY_MS);
    retry.unref();
  };

  try {
    if (!(await take())) throw new SingleHubError(clustered);
  } catch (err) {
    closed = true;
    await pool.end().catch(() => undefined);
    throw err;
  }
  return {
    release: async () => {
      if (closed) return;
      closed = true;
      clearTimeout(retry);
      client?.release(true);
      client = undefined;
      await pool.end().catch(() => undefined);
    },
  };
}
