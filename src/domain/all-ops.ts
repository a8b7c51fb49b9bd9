/** Every op the socket serves, built from the domain's services. */
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { SessionRegistry } from '../auth/sessions.js';
import type { Db } from '../db/database.js';
import type { ResourceName } from '../db/entities.js';
import { OpRegistry } from '../protocol/ops.js';
import { authOps } from './auth-ops.js';
import { experimentOps } from './experiments.js';
import { firmwareOps } from './firmware.js';
import { resourceOps, type Repositories } from './resources.js';

export interface OpServices {
  readonly db: Db;
  readonly repos: Repositories;
  readonly sessions: SessionRegistry;
  readonly authenticator: Authenticator;
  readonly log: Logger;
  readonly removeFile: (relativePath: string) => Promise<void>;
  /** After a write to a resource (the ingest catalog follows events, mappings, experiments). */
  readonly changed: (resource: ResourceName) => Promise<void>;
}

/** The registry of every op; building it runs no query, so docs can be generated from it. */
export function buildOpRegistry(s: OpServices): OpRegistry {
  return new OpRegistry()
    .registerAll(resourceOps(s.repos, { db: s.db, sessions: s.sessions, log: s.log, removeFile: s.removeFile, changed: s.changed }))
    .registerAll(authOps(s.authenticator, s.sessions, s.log.child({ module: 'auth' })))
    .registerAll(experimentOps(s.db, s.repos.experiments, () => s.changed('experiments')))
    .registerAll(firmwareOps(s.db, s.repos.firmware_updates));
}
