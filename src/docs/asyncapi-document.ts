/**
 * The hub's AsyncAPI document as text, built from the very registry the hub serves
 * (domain/all-ops.ts). It lives outside protocol/ because it composes the whole hub: protocol/
 * imports neither domain/ nor db/.
 */
import { pino } from 'pino';
import { SessionRegistry } from '../auth/sessions.js';
import { buildOpRegistry } from '../domain/all-ops.js';
import { createRepositories } from '../domain/resources.js';
import { Catalog } from '../ingest/catalog.js';
import { IngestService } from '../ingest/ingest-service.js';
import { LiveService } from '../live/live-service.js';
import { buildAsyncApi } from '../protocol/asyncapi.js';
import type { OpRegistry } from '../protocol/ops.js';
import { VERSION } from '../version.js';

/**
 * A handle to a part of the hub that does not exist while docs are generated: any use of it
 * (even reading a property) throws, so building the registry provably touches no database.
 */
function absent<T>(what: string): T {
  const fail = (): never => {
    throw new Error(`${what} is used while building the op registry; ops may use it only when dispatched`);
  };
  return new Proxy(
    {},
    { get: fail, set: fail, has: fail, apply: fail, construct: fail, ownKeys: fail, getPrototypeOf: fail, defineProperty: fail },
  ) as T;
}

/**
 * The registry the hub serves, built with no database, socket or file store behind it. The
 * in-memory parts (sessions, the ingest catalog, which only reads the database when reloaded)
 * are real; what stands for I/O is {@link absent}.
 */
export function docsOpRegistry(): OpRegistry {
  const log = pino({ level: 'silent' });
  const db = absent<never>('the database');
  const catalog = new Catalog(db, log);
  return buildOpRegistry({
    db,
    repos: createRepositories(db),
    sessions: new SessionRegistry(),
    authenticator: absent('the authenticator'),
    log,
    removeFile: absent('the file store'),
    changed: absent('the catalog'),
    ingest: new IngestService(absent('the ingest queue'), absent('the COPY writer'), catalog, absent('the metrics'), 0),
    live: new LiveService(absent('the live pool'), catalog, 0, log),
    commands: absent('the command router'),
  });
}

export function renderAsyncApi(): string {
  return `${JSON.stringify(buildAsyncApi(docsOpRegistry(), VERSION), null, 2)}\n`;
}
