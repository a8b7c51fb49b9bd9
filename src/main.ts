/**
 * The composition root: config → database → services → server. The only module that wires the
 * others together. Run as a program it starts the hub and stops it cleanly on SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ensureFirstAdmin } from './auth/first-admin.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import { createLogger, type Logger } from './log.js';
import { startServer, type HubServer } from './server/server.js';
import { isNativeUws } from './server/uws.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface Hub {
  readonly port: number;
  readonly database: Database;
  /** Stops accepting, finishes in-flight work, closes the database. Idempotent. */
  stop(): Promise<void>;
}

/** Starts every part of the hub; on any failure, stops what had started before rethrowing. */
export async function startHub(config: Config, log: Logger): Promise<Hub> {
  if (!isNativeUws()) {
    if (!config.allowUwsFallback) {
      throw new Error(
        'uWebSockets.js did not load its native addon and fell back to its slow JavaScript polyfill ' +
          '(this build needs Node.js 20 on glibc ≥ 2.36, x64 or arm64). Refusing to start; set ' +
          'HUB_ALLOW_UWS_FALLBACK=1 to run anyway at a fraction of the throughput.',
      );
    }
    log.warn('!!! uWebSockets.js runs on its JavaScript FALLBACK: throughput is a fraction of normal !!!');
  }

  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, log);
  let server: HubServer | undefined;
  try {
    const admin = await ensureFirstAdmin(database.db, config.adminUsername, config.adminPassword, log);
    if (admin?.generatedPassword !== undefined) {
      // Printed once, to the terminal only: the log line above deliberately lacks it.
      process.stdout.write(
        `\n  First admin created: username "${admin.username}", password "${admin.generatedPassword}"\n` +
          '  It is shown only this once; change it after logging in.\n\n',
      );
    }
    server = await startServer({
      host: config.host,
      port: config.port,
      version: VERSION,
      log: log.child({ module: 'server' }),
      checkDatabase: () => database.ping(),
      queueStats: () => ({ depth: 0, capacity: config.queueCapacity }),
    });
  } catch (err) {
    await database.close();
    throw err;
  }

  const listening = server;
  let stopping: Promise<void> | undefined;
  return {
    port: listening.port,
    database,
    stop: () => {
      stopping ??= (async () => {
        listening.close();
        await database.close();
      })();
      return stopping;
    },
  };
}

/** The program: `npm start` / `node dist/main.js`. */
async function run(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env, { demoByDefault: process.argv.includes('--demo-by-default') });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  const log = createLogger(config.logLevel);

  // A signal during start-up waits for start-up to finish (or fail), then stops what started.
  let hub: Hub | undefined;
  let stopRequested = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopRequested) return;
    stopRequested = true;
    log.info({ signal }, 'shutting down');
    await hub?.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  try {
    hub = await startHub(config, log);
  } catch (err) {
    log.fatal({ err }, 'the hub could not start');
    process.exit(1);
  }
  if (stopRequested) {
    await hub.stop();
    process.exit(0);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run();
}
