/** node-postgres pools: the one place connection settings are chosen. */
import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  /** Statements running longer are cancelled by the server (no user's query runs forever). */
  statementTimeoutMs?: number;
  /** An idle connection is closed after this (default 30 s; 0: kept open). */
  idleTimeoutMs?: number;
}

/** A pool that fails fast (5 s) when the server cannot be reached, instead of hanging. */
export function createPool(url: string, options: PoolOptions = {}): pg.Pool {
  return new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
    application_name: options.applicationName ?? 'telemetry-hub',
    ...(options.statementTimeoutMs === undefined ? {} : { statement_timeout: options.statementTimeoutMs }),
    // A socket that dies silently (network partition) is noticed instead of hanging a query forever.
    keepAlive: true,
  });
}

/** `url` with the password masked, for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}

/** `url` pointing at another database on the same server. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

/**
 * Checks a client out of `pool` for the caller's use. pg-pool stops listening for a client's
 * errors while it is checked out, and a connection that dies between two queries then throws
 * an uncaught 'error'; this keeps a listener on it until release, and a client that saw an
 * error is destroyed rather than returned to the pool.
 */
export async function checkout(pool: pg.Pool): Promise<{ client: pg.PoolClient; release(err?: Error): void }> {
  const client = await pool.connect();
  let failed: Error | undefined;
  const onError = (err: Error): void => {
    failed ??= err;
  };
  client.on('error', onError);
  let released = false;
  return {
    client,
    release: (err) => {
      if (released) return;
      released = true;
      client.removeListener('error', onError);
      client.release(err ?? failed);
    },
  };
}
