/**
 * The hub's own log (PROTOCOL.md §11): one function per cause, each writing its `log_entries`
 * row with the executor it is given — the cause's own transaction where there is one. A trigger
 * (migration 0005) announces every new entry on `hub_log` when its transaction commits; every hub
 * turns that into a `log_entry` push on the topic `log_entries` (see {@link logEntryFromNotice}).
 * @see PROTOCOL.md §11, §14
 */
import { eq } from 'drizzle-orm';
import type { Db } from '../db/database.js';
import { logEntries } from '../db/schema.js';
import { toRecord, type WireRecord } from '../protocol/records.js';

/** The NOTIFY channel of new log entries. */
export const LOG_CHANNEL = 'hub_log';

/** A database or a transaction of it (drizzle). */
export type Executor = Pick<Db, 'insert'>;

type Level = 'info' | 'warning' | 'error';

async function write(db: Executor, level: Level, content: string, user: string | null = null): Promise<void> {
  await db.insert(logEntries).values({ content, logging_type: level, status_type: 'unread', user_public_id: user });
}

/** Quotes a name for a log line (names are user text: keep them on one line, bounded). */
function q(name: string): string {
  return `"${name.replace(/[\r\n]+/g, ' ').slice(0, 200)}"`;
}

export const audit = {
  hubStarted: (db: Executor, version: string) => write(db, 'info', `Hub ${version} started`),
  login: (db: Executor, user: { public_id: string; username: string }) => write(db, 'info', `User ${q(user.username)} logged in`, user.public_id),
  /** PROTOCOL.md §17: `how` is matched, linked or created; `role` says a role the provider changed. */
  ssoLogin: (db: Executor, user: { public_id: string; username: string }, how: string, role?: { from: string; to: string }) =>
    write(
      db,
      'info',
      `User ${q(user.username)} signed in through SSO (${how})${role === undefined ? '' : `; role ${role.from} → ${role.to} from the provider`}`,
      user.public_id,
    ),
  /** A refused SSO sign-in: the reason slug only (never a token, code or claim value). */
  ssoRefused: (db: Executor, reason: string) => write(db, 'warning', `SSO sign-in refused: ${q(reason)}`),
  experimentStarted: (db: Executor, experiment: { name: string }, user: string | null) =>
    write(db, 'info', `Experiment ${q(experiment.name)} started`, user),
  experimentStopped: (db: Executor, experiment: { name: string }, user: string | null) =>
    write(db, 'info', `Experiment ${q(experiment.name)} stopped`, user),
  deviceStatus: (db: Executor, instance: { instance_name: string }, status: string) =>
    write(db, 'info', `Device ${q(instance.instance_name)} is ${status}`),
  command: (db: Executor, command: { name: string; instanceName: string; outcome: string }, user: string | null) =>
    write(db, 'info', `Command ${q(command.name)} sent to device ${q(command.instanceName)}: ${command.outcome}`, user),
};

/**
 * The record of a `hub_log` notice: the row itself (as PostgreSQL's row_to_json wrote it), or only
 * its `public_id` when the row was too long for a notice — then `fetch` reads it.
 */
export async function logEntryFromNotice(payload: string, fetch: (publicId: string) => Promise<WireRecord>): Promise<WireRecord> {
  const row = JSON.parse(payload) as Record<string, unknown>;
  if (typeof row.content !== 'string') return fetch(String(row.public_id));
  return toRecord('log_entries', { ...row, created_on: new Date(String(row.created_on)) });
}

/** A log entry's record by public_id (for a notice too long to carry the row). */
export async function readLogEntry(db: Db, publicId: string): Promise<WireRecord> {
  const [row] = await db.select().from(logEntries).where(eq(logEntries.public_id, publicId)).limit(1);
  if (row === undefined) throw new Error(`log entry ${publicId} not found`);
  return toRecord('log_entries', row);
}
