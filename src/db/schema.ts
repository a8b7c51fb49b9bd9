/**
 * The hub's tables, in drizzle. `drizzle-kit generate` turns this file into `migrations/`.
 *
 * Conventions:
 * - Every table has an internal integer `id`, an external UUID `public_id` and `created_on`.
 * - Property names are the column names, snake_case, so a row already has the wire's field names.
 * - Foreign keys reference `public_id`, never `id`: the column is the wire field
 *   (`event_public_id`), so no request needs an id translation and the database itself
 *   enforces references. Every foreign key states its ON DELETE.
 * @see PROTOCOL.md §5
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgEnum,
  pgSequence,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** The columns every table starts with. */
const base = () => ({
  id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
  public_id: uuid('public_id').notNull().unique().defaultRandom(),
  created_on: tstz('created_on').notNull().defaultNow(),
});

export const userRole = pgEnum('user_role', ['admin', 'operator', 'viewer']);
export const eventType = pgEnum('event_type', ['sensor', 'actuator', 'range', 'cmd_button', 'cmd_opened', 'cmd_closed']);
export const loggingType = pgEnum('logging_type', ['error', 'warning', 'info']);
export const statusType = pgEnum('status_type', ['read', 'unread']);
export const ruleOperator = pgEnum('rule_operator', ['gt', 'lt', 'eq', 'gte', 'lte', 'between', 'not_between']);
export const ruleActionType = pgEnum('rule_action_type', ['log', 'webhook']);
export const deliveryStatus = pgEnum('delivery_status', ['pending', 'delivered', 'dead_letter']);
export const firmwareStatus = pgEnum('firmware_status', [
  'pending',
  'downloading',
  'verifying',
  'applying',
  'completed',
  'failed',
  'rolled_back',
]);
export const widgetType = pgEnum('widget_type', ['line_chart', 'gauge', 'stat_card', 'actuator_toggle']);
export const packageSource = pgEnum('package_source', ['uploaded', 'bundled']);
export const instanceStatus = pgEnum('instance_status', ['inactive', 'connected', 'demo', 'error']);
export const channelDirection = pgEnum('channel_direction', ['input', 'output', 'bidirectional']);

export const users = pgTable(
  'users',
  {
    ...base(),
    username: varchar('username', { length: 50 }).notNull().unique(),
    email: varchar('email', { length: 255 }).unique(),
    password_hash: text('password_hash').notNull(),
    role: userRole('role').notNull().default('viewer'),
    /** Bumped when the password changes: login tokens carry it (`gen`) and older ones stop working. */
    token_generation: integer('token_generation').notNull().default(0),
    /** The OpenID provider and its `sub` this user signs in as (PROTOCOL.md §17); both or neither. */
    oidc_issuer: varchar('oidc_issuer', { length: 255 }),
    oidc_subject: varchar('oidc_subject', { length: 255 }),
    /** False: `POST /api/auth/login` refuses this user (an admin's choice for SSO-linked users). */
    password_login: boolean('password_login').notNull().default(true),
  },
  (t) => [
    unique('uq_users_oidc_identity').on(t.oidc_issuer, t.oidc_subject),
    check('ck_users_oidc_identity', sql`(${t.oidc_issuer} IS NULL) = (${t.oidc_subject} IS NULL)`),
  ],
);

export const events = pgTable('events', {
  ...base(),
  name: varchar('name', { length: 255 }).notNull().unique(),
  unit: varchar('unit', { length: 50 }).notNull().default(''),
  min_value: doublePrecision('min_value'),
  max_value: doublePrecision('max_value'),
  event_type: eventType('event_type').notNull().default('sensor'),
  user_public_id: uuid('user_public_id').references(() => users.public_id, { onDelete: 'set null' }),
});

export const experiments = pgTable(
  'experiments',
  {
    ...base(),
    name: varchar('name', { length: 255 }).notNull().unique(),
    started_on: tstz('started_on').notNull().defaultNow(),
    stopped_on: tstz('stopped_on'),
    user_public_id: uuid('user_public_id').references(() => users.public_id, { onDelete: 'set null' }),
  },
  // At most one experiment runs at a time, enforced by the database itself (PROTOCOL.md §5).
  (t) => [uniqueIndex('ux_experiments_one_running').on(sql`(${t.stopped_on} IS NULL)`).where(sql`${t.stopped_on} IS NULL`)],
);

/**
 * The hot table, range-partitioned on `timestamp` by migration 0008 (drizzle cannot say so; the
 * partitions live in schema `partitions`, made by src/db/partitions.ts). Every index is paid per
 * COPYed row, so there are two: the primary key (`public_id`, `timestamp`) — a partitioned table's
 * unique key must hold the partition key — and (`event_public_id`, `timestamp`) for history.
 * `public_id` is a UUIDv7 whose time is the point's own `timestamp` (made by the hub), so it
 * stays unique on its own and names the one partition to look in. `id` is unindexed.
 * `created_on` is when the row was committed. The history index also holds `value` (INCLUDE,
 * migration 0013), so bucketed history of one event is read from the index alone.
 *
 * `event_public_id` and `experiment_public_id` have no FOREIGN KEY: a key checks every COPYed row
 * with a query of its own (nearly half of a COPY's time, measured). Migration 0013 keeps the same
 * guarantees another way: the COPY writer locks a batch's events and experiment once per batch
 * (`hub_hold_datapoint_references`), a trigger checks every other insert or update row by row,
 * and deleting an event deletes its points, deleting an experiment clears it from its points —
 * as ON DELETE CASCADE / SET NULL did.
 * @see PROTOCOL.md §16
 */
export const datapoints = pgTable(
  'datapoints',
  {
    id: bigint('id', { mode: 'number' }).notNull().generatedAlwaysAsIdentity(),
    public_id: uuid('public_id').notNull().defaultRandom(),
    created_on: tstz('created_on').notNull().defaultNow(),
    /** An event's public_id; kept valid by migration 0013's triggers, not a foreign key (see above). */
    event_public_id: uuid('event_public_id').notNull(),
    /** The running experiment's public_id, or NULL; kept valid as `event_public_id` is. */
    experiment_public_id: uuid('experiment_public_id'),
    value: doublePrecision('value').notNull(),
    timestamp: tstz('timestamp').notNull(),
    /**
     * The COPY batch that wrote the row, with several hubs only (NULL on a lone hub): the gap
     * fill after a bus outage finds a commit's rows by it (see ingestCommits). Unindexed.
     */
    commit_batch: bigint('commit_batch', { mode: 'number' }),
  },
  (t) => [
    primaryKey({ name: 'datapoints_pkey', columns: [t.public_id, t.timestamp] }),
    index('ix_datapoints_event_ts').on(t.event_public_id, t.timestamp),
  ],
);

export const logEntries = pgTable('log_entries', {
  ...base(),
  content: text('content').notNull(),
  logging_type: loggingType('logging_type').notNull().default('info'),
  status_type: statusType('status_type').notNull().default('unread'),
  user_public_id: uuid('user_public_id').references(() => users.public_id, { onDelete: 'set null' }),
});

/** Revoked JWTs by `jti`, kept until they would have expired anyway. */
export const blacklistTokens = pgTable(
  'blacklist_tokens',
  {
    ...base(),
    jti: varchar('jti', { length: 64 }).notNull().unique(),
    expires_at: tstz('expires_at').notNull(),
  },
  (t) => [index('ix_blacklist_tokens_expires_at').on(t.expires_at)],
);

export const rules = pgTable(
  'rules',
  {
    ...base(),
    name: varchar('name', { length: 255 }).notNull().unique(),
    event_public_id: uuid('event_public_id')
      .notNull()
      .references(() => events.public_id, { onDelete: 'cascade' }),
    operator: ruleOperator('operator').notNull(),
    threshold: doublePrecision('threshold').notNull(),
    threshold_high: doublePrecision('threshold_high'),
    action_type: ruleActionType('action_type').notNull().default('log'),
    webhook_event_type: varchar('webhook_event_type', { length: 100 }),
    cooldown_seconds: integer('cooldown_seconds').notNull().default(60),
    enabled: boolean('enabled').notNull().default(true),
    last_triggered_at: tstz('last_triggered_at'),
    user_public_id: uuid('user_public_id').references(() => users.public_id, { onDelete: 'set null' }),
  },
  (t) => [
    index('ix_rules_event_public_id').on(t.event_public_id),
    check('ck_rules_cooldown', sql`${t.cooldown_seconds} >= 0`),
  ],
);

export const webhooks = pgTable('webhooks', {
  ...base(),
  url: text('url').notNull(),
  secret: text('secret'),
  events: text('events').array().notNull(),
  enabled: boolean('enabled').notNull().default(true),
  user_public_id: uuid('user_public_id').references(() => users.public_id, { onDelete: 'set null' }),
});

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    ...base(),
    webhook_public_id: uuid('webhook_public_id')
      .notNull()
      .references(() => webhooks.public_id, { onDelete: 'cascade' }),
    event_type: varchar('event_type', { length: 100 }).notNull(),
    payload: jsonb('payload').notNull(),
    status: deliveryStatus('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    response_code: integer('response_code'),
    last_error: text('last_error'),
    next_attempt_at: tstz('next_attempt_at'),
    delivered_on: tstz('delivered_on'),
  },
  (t) => [
    index('ix_webhook_deliveries_webhook').on(t.webhook_public_id),
    // The sender's claim: due pending deliveries of a webhook (src/db/outbox-store.ts).
    index('ix_webhook_deliveries_pending').on(t.webhook_public_id, t.next_attempt_at).where(sql`${t.status} = 'pending'`),
  ],
);

export const firmwareUpdates = pgTable('firmware_updates', {
  ...base(),
  version: varchar('version', { length: 50 }).notNull().unique(),
  release_notes: text('release_notes').notNull().default(''),
  status: firmwareStatus('status').notNull().default('pending'),
  file_path: text('file_path'),
  file_hash_sha256: varchar('file_hash_sha256', { length: 64 }),
  file_size_bytes: bigint('file_size_bytes', { mode: 'number' }),
  user_public_id: uuid('user_public_id').references(() => users.public_id, { onDelete: 'set null' }),
});

export const dashboards = pgTable(
  'dashboards',
  {
    ...base(),
    name: varchar('name', { length: 255 }).notNull(),
    is_global: boolean('is_global').notNull().default(false),
    user_public_id: uuid('user_public_id').references(() => users.public_id, { onDelete: 'cascade' }),
  },
  (t) => [index('ix_dashboards_user').on(t.user_public_id)],
);

export const dashboardWidgets = pgTable(
  'dashboard_widgets',
  {
    ...base(),
    dashboard_public_id: uuid('dashboard_public_id')
      .notNull()
      .references(() => dashboards.public_id, { onDelete: 'cascade' }),
    widget_type: widgetType('widget_type').notNull(),
    title: varchar('title', { length: 255 }).notNull().default(''),
    event_public_id: uuid('event_public_id').references(() => events.public_id, { onDelete: 'set null' }),
    x: integer('x').notNull().default(0),
    y: integer('y').notNull().default(0),
    w: integer('w').notNull().default(4),
    h: integer('h').notNull().default(3),
    config: jsonb('config').notNull().default({}),
  },
  (t) => [
    index('ix_dashboard_widgets_dashboard').on(t.dashboard_public_id),
    check('ck_dashboard_widgets_size', sql`${t.w} BETWEEN 1 AND 12 AND ${t.h} BETWEEN 1 AND 12`),
    check('ck_dashboard_widgets_position', sql`${t.x} >= 0 AND ${t.y} >= 0`),
  ],
);

export const pluginPackages = pgTable('plugin_packages', {
  ...base(),
  package_name: varchar('package_name', { length: 255 }).notNull().unique(),
  version: varchar('version', { length: 50 }).notNull(),
  source: packageSource('source').notNull().default('uploaded'),
  file_path: text('file_path'),
  file_hash_sha256: varchar('file_hash_sha256', { length: 64 }),
  file_size_bytes: bigint('file_size_bytes', { mode: 'number' }),
  user_public_id: uuid('user_public_id').references(() => users.public_id, { onDelete: 'set null' }),
});

export const pluginInstances = pgTable('plugin_instances', {
  ...base(),
  plugin_id: varchar('plugin_id', { length: 255 }).notNull(),
  instance_name: varchar('instance_name', { length: 255 }).notNull().unique(),
  demo_mode: boolean('demo_mode').notNull().default(false),
  enabled: boolean('enabled').notNull().default(true),
  status: instanceStatus('status').notNull().default('inactive'),
  config: jsonb('config').notNull().default({}),
  /** The latest frame from one of its device sockets (within 10 s; exact at disconnect). @see PROTOCOL.md §13 */
  last_seen_at: tstz('last_seen_at'),
  /** The firmware update this device last reported on, its step, and the version it last completed. */
  firmware_update_public_id: uuid('firmware_update_public_id').references(() => firmwareUpdates.public_id, { onDelete: 'set null' }),
  firmware_status: firmwareStatus('firmware_status'),
  firmware_version: varchar('firmware_version', { length: 50 }),
});

export const channelMappings = pgTable(
  'channel_mappings',
  {
    ...base(),
    plugin_instance_public_id: uuid('plugin_instance_public_id')
      .notNull()
      .references(() => pluginInstances.public_id, { onDelete: 'cascade' }),
    channel_id: varchar('channel_id', { length: 255 }).notNull(),
    channel_name: varchar('channel_name', { length: 255 }).notNull().default(''),
    direction: channelDirection('direction').notNull().default('input'),
    unit: varchar('unit', { length: 50 }).notNull().default(''),
    event_public_id: uuid('event_public_id').references(() => events.public_id, { onDelete: 'set null' }),
  },
  (t) => [unique('uq_channel_mappings_instance_channel').on(t.plugin_instance_public_id, t.channel_id)],
);

/** Device and script tokens: only a SHA-256 of the secret is stored. */
export const apiTokens = pgTable(
  'api_tokens',
  {
    ...base(),
    name: varchar('name', { length: 255 }).notNull(),
    token_hash: varchar('token_hash', { length: 64 }).notNull().unique(),
    user_public_id: uuid('user_public_id')
      .notNull()
      .references(() => users.public_id, { onDelete: 'cascade' }),
    plugin_instance_public_id: uuid('plugin_instance_public_id').references(() => pluginInstances.public_id, {
      onDelete: 'cascade',
    }),
    expires_at: tstz('expires_at'),
    last_used_at: tstz('last_used_at'),
  },
  (t) => [index('ix_api_tokens_user').on(t.user_public_id)],
);

/**
 * The last committed ingest `seq` of each principal (an API token, or a user for login tokens),
 * written in the same transaction as the rows it covers, so a retry is stored exactly once.
 * @see PROTOCOL.md §6
 */
export const ingestSequences = pgTable(
  'ingest_sequences',
  {
    ...base(),
    api_token_public_id: uuid('api_token_public_id')
      .unique()
      .references(() => apiTokens.public_id, { onDelete: 'cascade' }),
    user_public_id: uuid('user_public_id')
      .unique()
      .references(() => users.public_id, { onDelete: 'cascade' }),
    last_seq: bigint('last_seq', { mode: 'number' }).notNull(),
    updated_on: tstz('updated_on').notNull().defaultNow(),
  },
  (t) => [
    check(
      'ck_ingest_sequences_one_principal',
      sql`(${t.api_token_public_id} IS NULL) <> (${t.user_public_id} IS NULL)`,
    ),
  ],
);

/**
 * One row counting committed ingest batches, incremented inside each batch's transaction (after
 * its predecessor committed). A live replay reads it in the snapshot of its query, so it knows
 * exactly which commits it saw: the gapless, duplicate-free resume of PROTOCOL.md §7.
 */
export const ingestEpoch = pgTable('ingest_epoch', {
  ...base(),
  epoch: bigint('epoch', { mode: 'number' }).notNull().default(0),
});

/**
 * With several hubs (NATS_URL): one row per committed ingest batch, written in the batch's own
 * transaction with its epoch. After a bus outage a hub finds here exactly the commits of the
 * other hubs it missed, and their rows by `datapoints.commit_batch` within [min_ts, max_ts]
 * (PROTOCOL.md §15). Kept for a bounded time (src/db/commit-log.ts).
 */
export const ingestCommits = pgTable(
  'ingest_commits',
  {
    epoch: bigint('epoch', { mode: 'number' }).primaryKey(),
    hub: text('hub').notNull(),
    batch: bigint('batch', { mode: 'number' }).notNull(),
    min_ts: tstz('min_ts').notNull(),
    max_ts: tstz('max_ts').notNull(),
    committed_at: tstz('committed_at').notNull().defaultNow(),
  },
  (t) => [
    index('ix_ingest_commits_committed_at').on(t.committed_at),
    // The gap fill reads each hub's commits after its own bound, and lists the hubs (skip scan).
    index('ix_ingest_commits_hub_epoch').on(t.hub, t.epoch),
  ],
);

/** Numbers hub processes as they start: a batch id is `number * 2^32 + the hub's own count`. */
export const ingestHubNumbers = pgSequence('ingest_hub_numbers');
