/**
 * The 15 resources served over the socket: one generic CRUD definition each, plus what is
 * particular to it (ownership scopes, hashing, cross-field checks, sockets closed on delete).
 * @see PROTOCOL.md §2, §5
 */
import { eq, inArray, or, sql, type SQL } from 'drizzle-orm';
import type { Logger } from 'pino';
import { hashApiToken, newApiTokenSecret } from '../auth/api-token-secret.js';
import { hashPassword } from '../auth/passwords.js';
import { refusedHost } from '../automation/address-guard.js';
import type { Principal } from '../auth/principal.js';
import type { SessionRegistry } from '../auth/sessions.js';
import type { Db } from '../db/database.js';
import { RESOURCES, type ResourceName } from '../db/entities.js';
import { DatapointsRepository } from '../db/datapoints-repository.js';
import { Repository } from '../db/repository.js';
import * as t from '../db/schema.js';
import { audit } from '../automation/audit.js';
import { drizzleRunner } from '../automation/drizzle-runner.js';
import { enqueueDeliveries } from '../automation/outbox.js';
import { mapDbError } from '../db/db-errors.js';
import { conflict, forbidden, invalid, notFound, type ErrorDetail } from '../errors.js';
import type { OpDef } from '../protocol/ops.js';
import { toRecord } from '../protocol/records.js';
import { ADMIN } from './access.js';
import { FirmwareUpdatesRepository } from './firmware.js';
import { crudOps, type ResourceSpec } from './crud.js';

export interface ResourceServices {
  readonly db: Db;
  readonly sessions: SessionRegistry;
  readonly log: Logger;
  /** Removes an uploaded file whose record was deleted. */
  readonly removeFile: (relativePath: string) => Promise<void>;
  /** Called (and awaited) after a write to a resource, before the reply. */
  readonly changed: (resource: ResourceName) => Promise<void>;
  /** Webhook URLs may name loopback, private… hosts (HUB_WEBHOOK_ALLOW_PRIVATE). */
  readonly allowPrivateWebhooks?: boolean;
}

/** One repository per resource, shared by the CRUD ops and the domain services. */
export function createRepositories(db: Db) {
  const R = RESOURCES;
  return {
    users: new Repository(db, R.users.table, R.users.entity, { hidden: ['password_hash'] }),
    events: new Repository(db, R.events.table, R.events.entity),
    experiments: new Repository(db, R.experiments.table, R.experiments.entity),
    // By public_id within the partition its UUIDv7 names (PROTOCOL.md §16).
    datapoints: new DatapointsRepository(db, R.datapoints.entity),
    log_entries: new Repository(db, R.log_entries.table, R.log_entries.entity),
    rules: new Repository(db, R.rules.table, R.rules.entity),
    webhooks: new Repository(db, R.webhooks.table, R.webhooks.entity, { hidden: ['secret'] }),
    webhook_deliveries: new Repository(db, R.webhook_deliveries.table, R.webhook_deliveries.entity),
    // Its records carry the counts of devices at each stage (PROTOCOL.md §13).
    firmware_updates: new FirmwareUpdatesRepository(db, R.firmware_updates.entity, { hidden: ['file_path'] }),
    dashboards: new Repository(db, R.dashboards.table, R.dashboards.entity),
    dashboard_widgets: new Repository(db, R.dashboard_widgets.table, R.dashboard_widgets.entity),
    plugin_packages: new Repository(db, R.plugin_packages.table, R.plugin_packages.entity, { hidden: ['file_path'] }),
    plugin_instances: new Repository(db, R.plugin_instances.table, R.plugin_instances.entity),
    channel_mappings: new Repository(db, R.channel_mappings.table, R.channel_mappings.entity),
    api_tokens: new Repository(db, R.api_tokens.table, R.api_tokens.entity, { hidden: ['token_hash'] }),
  };
}

export type Repositories = ReturnType<typeof createRepositories>;

const me = (p: Principal): string => p.user.public_id;

/** A transaction of the hub's database. */
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** The advisory lock taken around changes that could leave the hub without an admin. */
export const ADMIN_LOCK_KEY = 0x4855_4231; // 'HUB1'

/** Dashboards a caller may see: global ones and its own (admins: all). */
function visibleDashboards(p: Principal): SQL | undefined {
  return ADMIN(p) ? undefined : or(eq(t.dashboards.is_global, true), eq(t.dashboards.user_public_id, me(p)));
}

/** The CRUD ops of every resource. */
export function resourceOps(repos: Repositories, services: ResourceServices): OpDef[] {
  const { db, sessions } = services;
  // The secret of a token being created, handed from toInsert to created (it is never stored).
  const newSecrets = new WeakMap<object, string>();

  const dashboardOf = async (publicId: string) => {
    const [row] = await db.select().from(t.dashboards).where(eq(t.dashboards.public_id, publicId)).limit(1);
    return row;
  };
  const mayEditDashboard = async (p: Principal, dashboardPublicId: string): Promise<boolean> => {
    if (ADMIN(p)) return true;
    const dashboard = await dashboardOf(dashboardPublicId);
    return dashboard?.user_public_id === me(p);
  };

  /**
   * Runs `fn` in a transaction holding the users lock, so that checking "is this the last admin?"
   * and the write that depends on it cannot interleave with another admin's demotion or deletion.
   */
  const underAdminLock = <R>(fn: (tx: Tx) => Promise<R>): Promise<R> =>
    db
      .transaction(async (tx) => {
        await tx.execute(sql`SELECT pg_advisory_xact_lock(${ADMIN_LOCK_KEY})`);
        return fn(tx);
      })
      .catch((err: unknown) => {
        throw mapDbError(err, 'User');
      });
  /** Would removing `publicId` from the admins leave none? (Inside the lock.) */
  const isLastAdmin = async (tx: Tx, publicId: string): Promise<boolean> => {
    const admins = await tx.select({ id: t.users.public_id }).from(t.users).where(eq(t.users.role, 'admin'));
    return admins.length <= 1 && admins.some((a) => a.id === publicId);
  };

  const specs = [
    {
      name: 'users',
      repo: repos.users,
      listScope: (p) => (ADMIN(p) ? undefined : eq(t.users.public_id, me(p))),
      canSee: (p, row) => ADMIN(p) || row.public_id === me(p),
      canChange: (p, row) => ADMIN(p) || row.public_id === me(p),
      toInsert: async (data) => {
        const { password, ...rest } = data as { password: string; username: string };
        return { ...rest, password_hash: await hashPassword(password) };
      },
      toUpdate: async (data, p, row) => {
        const { password, ...rest } = data as { password?: string; role?: 'admin' | 'operator' | 'viewer'; password_login?: boolean };
        if (rest.role !== undefined && rest.role !== row.role && !ADMIN(p)) throw forbidden('Only an admin can change roles');
        if (rest.password_login !== undefined && rest.password_login !== row.password_login && !ADMIN(p)) {
          throw forbidden('Only an admin can turn password login on or off');
        }
        // Without the current password a stolen token could take the account over: users change
        // their own with auth.change_password; only an admin sets one.
        if (password !== undefined && !ADMIN(p)) throw forbidden('Change your password with auth.change_password (it needs the current one)');
        return password === undefined ? rest : { ...rest, password_hash: await hashPassword(password) };
      },
      update: (publicId, values) =>
        underAdminLock(async (tx) => {
          if (values.role !== undefined && values.role !== 'admin' && (await isLastAdmin(tx, publicId))) {
            throw conflict('The last admin cannot be demoted');
          }
          // A new password ends every login token issued before it (they carry the generation).
          const set = values.password_hash === undefined ? values : { ...values, token_generation: sql`${t.users.token_generation} + 1` };
          const [updated] = await tx.update(t.users).set(set).where(eq(t.users.public_id, publicId)).returning();
          if (updated === undefined) throw notFound('User', publicId);
          return updated;
        }),
      updated: (before, after, values) => {
        // Rights follow the user at once: the sockets close (1008) and reconnect with the new role.
        // After the reply is written (same tick), as for logout.
        if (after.role !== before.role) setImmediate(() => sessions.closeByUser(after.public_id, 'role changed', 'person'));
        else if (values.password_hash !== undefined) setImmediate(() => sessions.closeByUser(after.public_id, 'password changed', 'login'));
      },
      remove: (row) =>
        underAdminLock(async (tx) => {
          if (await isLastAdmin(tx, row.public_id)) throw conflict('The last admin cannot be deleted');
          const deleted = await tx.delete(t.users).where(eq(t.users.public_id, row.public_id)).returning({ id: t.users.id });
          return deleted.length > 0;
        }),
      deleted: (row) => void sessions.closeByUser(row.public_id),
    } satisfies ResourceSpec<typeof t.users>,
    {
      name: 'events',
      repo: repos.events,
      toInsert: (data) => checkRange(data, undefined) as typeof t.events.$inferInsert,
      toUpdate: (data, _p, row) => checkRange(data, row),
    } satisfies ResourceSpec<typeof t.events>,
    {
      name: 'experiments',
      repo: repos.experiments,
      // Started: its log entry and its deliveries commit with it (PROTOCOL.md §11, §12).
      insert: (values, p) =>
        db
          .transaction(async (tx) => {
            const [row] = await tx.insert(t.experiments).values(values).returning();
            if (row === undefined) throw new Error('insert returned nothing');
            await audit.experimentStarted(tx, row, p.user.public_id);
            await enqueueDeliveries(drizzleRunner(tx), 'experiment.started', { experiment_public_id: row.public_id, name: row.name });
            return row;
          })
          .catch((err: unknown) => {
            throw mapDbError(err, 'Experiment');
          }),
    } satisfies ResourceSpec<typeof t.experiments>,
    { name: 'datapoints', repo: repos.datapoints } satisfies ResourceSpec<typeof t.datapoints>,
    { name: 'log_entries', repo: repos.log_entries } satisfies ResourceSpec<typeof t.logEntries>,
    {
      name: 'rules',
      repo: repos.rules,
      toInsert: (data) => checkRule(data, undefined) as typeof t.rules.$inferInsert,
      toUpdate: (data, _p, row) => checkRule(data, row),
    } satisfies ResourceSpec<typeof t.rules>,
    {
      name: 'webhooks',
      repo: repos.webhooks,
      toInsert: (data) => checkWebhookUrl(data, services.allowPrivateWebhooks === true) as typeof t.webhooks.$inferInsert,
      toUpdate: (data) => checkWebhookUrl(data, services.allowPrivateWebhooks === true),
    } satisfies ResourceSpec<typeof t.webhooks>,
    { name: 'webhook_deliveries', repo: repos.webhook_deliveries } satisfies ResourceSpec<typeof t.webhookDeliveries>,
    {
      name: 'firmware_updates',
      repo: repos.firmware_updates,
      deleted: (row) => void (row.file_path !== null && services.removeFile(row.file_path)),
    } satisfies ResourceSpec<typeof t.firmwareUpdates>,
    {
      name: 'dashboards',
      repo: repos.dashboards,
      listScope: visibleDashboards,
      canSee: (p, row) => ADMIN(p) || row.is_global || row.user_public_id === me(p),
      canChange: (p, row) => ADMIN(p) || row.user_public_id === me(p),
    } satisfies ResourceSpec<typeof t.dashboards>,
    {
      name: 'dashboard_widgets',
      repo: repos.dashboard_widgets,
      listScope: (p) => {
        const visible = visibleDashboards(p);
        if (visible === undefined) return undefined;
        return inArray(t.dashboardWidgets.dashboard_public_id, db.select({ id: t.dashboards.public_id }).from(t.dashboards).where(visible));
      },
      canSee: async (p, row) => {
        if (ADMIN(p)) return true;
        const dashboard = await dashboardOf(row.dashboard_public_id);
        return dashboard !== undefined && (dashboard.is_global || dashboard.user_public_id === me(p));
      },
      canChange: (p, row) => mayEditDashboard(p, row.dashboard_public_id),
      toInsert: async (data, p) => {
        const values = data as typeof t.dashboardWidgets.$inferInsert;
        // A missing dashboard is left to the foreign key (404); someone else's is 403.
        const dashboard = await dashboardOf(values.dashboard_public_id);
        if (dashboard !== undefined && !ADMIN(p) && dashboard.user_public_id !== me(p)) {
          throw forbidden('Widgets can be added only to your own dashboards');
        }
        return values;
      },
    } satisfies ResourceSpec<typeof t.dashboardWidgets>,
    {
      name: 'plugin_packages',
      repo: repos.plugin_packages,
      deleted: (row) => void (row.file_path !== null && services.removeFile(row.file_path)),
    } satisfies ResourceSpec<typeof t.pluginPackages>,
    {
      name: 'plugin_instances',
      repo: repos.plugin_instances,
      canSee: (p, row) => p.role !== 'device' || row.public_id === p.pluginInstancePublicId,
      toInsert: (data) => {
        const values = data as typeof t.pluginInstances.$inferInsert;
        return { ...values, status: values.demo_mode === true ? 'demo' : 'inactive' };
      },
      // Disabled: its device sockets close (1008) and its tokens are refused at upgrade (403).
      updated: (before, after) => {
        if (before.enabled && !after.enabled) setImmediate(() => sessions.closeByPluginInstance(after.public_id, 'plugin instance disabled'));
      },
      deleted: (row) => void sessions.closeByPluginInstance(row.public_id),
    } satisfies ResourceSpec<typeof t.pluginInstances>,
    {
      name: 'channel_mappings',
      repo: repos.channel_mappings,
      listScope: (p) =>
        p.role === 'device' ? eq(t.channelMappings.plugin_instance_public_id, p.pluginInstancePublicId ?? '') : undefined,
    } satisfies ResourceSpec<typeof t.channelMappings>,
    {
      name: 'api_tokens',
      repo: repos.api_tokens,
      listScope: (p) => (ADMIN(p) ? undefined : eq(t.apiTokens.user_public_id, me(p))),
      canSee: (p, row) => ADMIN(p) || row.user_public_id === me(p),
      toInsert: (data) => {
        const { expires_at, ...rest } = data as { name: string; plugin_instance_public_id?: string | null; expires_at?: string | null };
        const secret = newApiTokenSecret();
        const values = { ...rest, expires_at: futureDate(expires_at), token_hash: hashApiToken(secret) } as typeof t.apiTokens.$inferInsert;
        newSecrets.set(values, secret);
        return values;
      },
      toUpdate: (data) => {
        const { expires_at, ...rest } = data as { name?: string; expires_at?: string | null };
        return expires_at === undefined ? rest : { ...rest, expires_at: futureDate(expires_at) };
      },
      created: (row, values) => ({ ...toRecord('api_tokens', row), token: newSecrets.get(values as object) }),
      deleted: (row) => void sessions.closeByToken(row.public_id),
    } satisfies ResourceSpec<typeof t.apiTokens>,
  ];
  return specs.flatMap((spec) => crudOps(spec as unknown as ResourceSpec<typeof t.events>, services.changed));
}

/** A webhook URL whose host is a loopback, private… literal or `localhost` is refused (SSRF guard, PROTOCOL.md §12). */
function checkWebhookUrl(data: Record<string, unknown>, allowPrivate: boolean) {
  if (allowPrivate || typeof data.url !== 'string') return data;
  let host: string;
  try {
    host = new URL(data.url).hostname;
  } catch {
    return data; // the schema's http-url format has refused it already
  }
  const why = refusedHost(host);
  if (why !== null) throw invalid([{ path: '/url', message: `must not reach a loopback, private, link-local, multicast or unspecified address: ${why}` }]);
  return data;
}

/** `expires_at` as a Date, which must lie in the future. */
function futureDate(value: string | null | undefined): Date | null {
  if (value === undefined || value === null) return null;
  const date = new Date(value);
  if (date.getTime() <= Date.now()) throw invalid([{ path: '/expires_at', message: 'must be in the future' }]);
  return date;
}

/** An event's `min_value` may not exceed its `max_value` (after the update, when updating). */
function checkRange(data: Record<string, unknown>, row: { min_value: number | null; max_value: number | null } | undefined) {
  const min = (data.min_value !== undefined ? data.min_value : row?.min_value) as number | null | undefined;
  const max = (data.max_value !== undefined ? data.max_value : row?.max_value) as number | null | undefined;
  if (typeof min === 'number' && typeof max === 'number' && min > max) {
    throw invalid([{ path: '/min_value', message: 'must not be greater than max_value' }]);
  }
  return data;
}

/** `between` and `not_between` need `threshold_high` ≥ `threshold`; a webhook action needs its event type. */
function checkRule(
  data: Record<string, unknown>,
  row: { operator: string; threshold: number; threshold_high: number | null; action_type: string; webhook_event_type: string | null } | undefined,
) {
  const merged = { ...row, ...data } as { operator: string; threshold: number; threshold_high?: number | null; action_type?: string; webhook_event_type?: string | null };
  const details: ErrorDetail[] = [];
  if (merged.operator === 'between' || merged.operator === 'not_between') {
    if (typeof merged.threshold_high !== 'number') details.push({ path: '/threshold_high', message: `is required for ${merged.operator}` });
    else if (merged.threshold_high < merged.threshold) details.push({ path: '/threshold_high', message: 'must be at least threshold' });
  }
  if (details.length > 0) throw invalid(details);
  if (merged.action_type === 'webhook' && (merged.webhook_event_type ?? null) === null) {
    return { ...data, webhook_event_type: 'sensor.threshold_exceeded' };
  }
  return data;
}

