/** The hub's AsyncAPI document as text, built from a registry that is never run (no database). */
import { pino } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import { SessionRegistry } from '../auth/sessions.js';
import type { Db } from '../db/database.js';
import { buildOpRegistry } from '../domain/all-ops.js';
import { createRepositories } from '../domain/resources.js';
import { VERSION } from '../version.js';
import { buildAsyncApi } from './asyncapi.js';

export function renderAsyncApi(): string {
  // Building the registry only constructs objects; nothing here touches a database.
  const db = {} as Db;
  const registry = buildOpRegistry({
    db,
    repos: createRepositories(db),
    sessions: new SessionRegistry(),
    authenticator: {} as Authenticator,
    log: pino({ level: 'silent' }),
    removeFile: async () => undefined,
    changed: async () => undefined,
  });
  return `${JSON.stringify(buildAsyncApi(registry, VERSION), null, 2)}\n`;
}
