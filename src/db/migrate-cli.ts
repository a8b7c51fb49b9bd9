/** `npm run db:migrate`: applies migrations to DATABASE_URL, or to the embedded database. */
import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { openDatabase } from './database.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(2);
}
const log = createLogger(config.logLevel);
try {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, log);
  await database.close();
  log.info('migrations applied');
} catch (err) {
  log.fatal({ err }, 'migration failed');
  process.exitCode = 1;
}
