/**
 * The database the hub runs on: `DATABASE_URL` when set, else the embedded PostgreSQL; reached
 * within seconds or a clear error, then migrated.
 */
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { Logger } from 'pino';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.js';
import { runMigrations } from './migrate.js';
import { createPool, redactUrl, type Pool } from './pool.js';
import * as schema from './schema.js';

export type Db = NodePgDatabase<typeof schema>;

/** Statements on the main pool are cancelled by PostgreSQL past this (migrations set their own). */
export const MAIN_STATEMENT_TIMEOUT_MS = 15_000;

export interface Database {
  readonly url: string;
  readonly pool: Pool;
  readonly db: Db;
  /** Is the database answering? For `/healthz`; never throws. */
  ping(timeoutMs?: number): Promise<boolean>;
  /** Ends the pool, then stops the embedded server if we started it. */
  close(): Promise<void>;
}

export interface DatabaseOptions {
  readonly databaseUrl: string | null;
  readonly dataDir: string;
  readonly migrate?: boolean;
  readonly poolSize?: number;
}

/** Connects (starting the embedded server when no URL is given), checks the server answers, migrates. */
export async function openDatabase(options: DatabaseOptions, log: Logger): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let url = options.databaseUrl;
  if (url === null) {
    embedded = await startEmbeddedPostgres(options.dataDir, log.child({ module: 'embedded-postgres' }));
    url = embedded.url;
  }
  // No statement of a request may hold a connection of the main pool (login, upgrades, CRUD)
  // for long: a list that scans a huge table is cancelled (503) rather than starving the others.
  const pool = createPool(url, { max: options.poolSize ?? 16, statementTimeoutMs: MAIN_STATEMENT_TIMEOUT_MS });
  // An idle client losing its server (restart, network) must not crash the hub; queries retry.
  pool.on('error', (err) => log.warn({ err }, 'idle database connection lost'));
  try {
    await pool.query('SELECT 1');
    if (options.migrate !== false) {
      // Migrations (a table converted to partitions, say) may take long: no statement timeout.
      const migrator = createPool(url, { max: 1, applicationName: 'telemetry-hub-migrate' });
      try {
        await runMigrations(migrator);
      } finally {
        await migrator.end().catch(() => undefined);
      }
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot use the database at ${redactUrl(url)}: ${reason}`, { cause: err });
  }
  log.info({ database: embedded ? 'embedded' : redactUrl(url) }, 'database ready');

  let closed: Promise<void> | undefined;
  return {
    url,
    pool,
    db: drizzle({ client: pool, schema }),
    ping: async (timeoutMs = 2_000) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('ping timed out')), timeoutMs);
        });
        await Promise.race([pool.query('SELECT 1'), timeout]);
        return true;
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => {
      closed ??= (async () => {
        await pool.end().catch((err: unknown) => log.warn({ err }, 'closing the pool failed'));
        await embedded?.stop();
      })();
      return closed;
    },
  };
}
