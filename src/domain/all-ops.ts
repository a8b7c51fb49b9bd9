/**
 * Every op the socket serves, registered in this one place: the hub serves this registry and the
 * AsyncAPI document is generated from it (src/docs/), so the two cannot differ.
 */
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { SessionRegistry } from '../auth/sessions.js';
import type { Db } from '../db/database.js';
import type { ResourceName } from '../db/entities.js';
import { OpRegistry, type OpDef } from '../protocol/ops.js';
import { webhookOps } from '../automation/webhook-ops.js';
import { commandOps, type CommandRouter } from '../devices/commands.js';
import { ANYONE, DEVICE, OPERATOR, PERSON, either, type Rule } from './access.js';
import { authOps } from './auth-ops.js';
import { experimentOps } from './experiments.js';
import { firmwareOps } from './firmware.js';
import { resourceOps, type Repositories } from './resources.js';

/** The `ingest` op's maker (ingest/IngestService); who may call it is decided here. */
export interface IngestOps {
  op(allow: Rule): OpDef;
}

/** The live ops' maker (live/LiveService): subscribe, unsubscribe, datapoints.query, .latest. */
export interface LiveOps {
  ops(allowPersons: Rule, allowAll: Rule): OpDef[];
}

export interface OpServices {
  readonly db: Db;
  readonly repos: Repositories;
  readonly sessions: SessionRegistry;
  readonly authenticator: Authenticator;
  readonly log: Logger;
  readonly removeFile: (relativePath: string) => Promise<void>;
  /** After a write to a resource (the ingest catalog follows events, mappings, experiments). */
  readonly changed: (resource: ResourceName) => Promise<void>;
  readonly ingest: IngestOps;
  readonly live: LiveOps;
  /** Where `commands.send` goes (this hub's device sockets, or other hubs'). */
  readonly commands: CommandRouter;
  /** Webhook URLs may name loopback, private… hosts (HUB_WEBHOOK_ALLOW_PRIVATE). */
  readonly allowPrivateWebhooks?: boolean;
}

/**
 * The registry of every op. Building it runs no query and calls no service: the services are
 * only used when an op is dispatched, so docs can be generated from it without a database.
 */
export function buildOpRegistry(s: OpServices): OpRegistry {
  return new OpRegistry()
    .registerAll(
      resourceOps(s.repos, {
        db: s.db,
        sessions: s.sessions,
        log: s.log,
        removeFile: s.removeFile,
        changed: s.changed,
        allowPrivateWebhooks: s.allowPrivateWebhooks ?? false,
      }),
    )
    .registerAll(authOps(s.authenticator, s.sessions, s.log.child({ module: 'auth' })))
    .registerAll(experimentOps(s.db, s.repos.experiments, () => s.changed('experiments')))
    .registerAll(firmwareOps(s.db, s.repos.firmware_updates))
    .registerAll(webhookOps(s.db, s.repos))
    .registerAll(commandOps(s.db, s.commands, s.log.child({ module: 'commands' }), { send: OPERATOR, reply: DEVICE }))
    .register(s.ingest.op(either(OPERATOR, DEVICE)))
    .registerAll(s.live.ops(PERSON, ANYONE));
}
