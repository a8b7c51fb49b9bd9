/**
 * What the hub answers, by op: records of every resource and the replies of the ops beyond CRUD,
 * written from PROTOCOL.md (the AsyncAPI document describes requests, not replies). The request
 * side is generated (ops.generated.ts); `OpReplies` is checked to cover exactly the same ops.
 * @see PROTOCOL.md §5, §6, §7, §10, §13
 */

/** One point of an `ingest` message. @see PROTOCOL.md §6 */
export type IngestPoint =
  | { event: string; channel?: never; value: number; ts?: number }
  | { channel: string; event?: never; value: number; ts?: number };

export interface IngestRequest {
  seq?: number;
  points: IngestPoint[];
}

export interface IngestReply {
  accepted: number;
  seq: number | null;
  duplicate?: true;
}

/** Fields every record has. */
interface Base {
  public_id: string;
  created_on: string;
}
type Nullable<T> = T | null;

export interface UserRecord extends Base {
  username: string;
  email: Nullable<string>;
  role: 'admin' | 'operator' | 'viewer';
  [field: string]: unknown;
}
export interface EventRecord extends Base {
  name: string;
  unit: string;
  min_value: Nullable<number>;
  max_value: Nullable<number>;
  event_type: 'sensor' | 'actuator' | 'range' | 'cmd_button' | 'cmd_opened' | 'cmd_closed';
  [field: string]: unknown;
}
export interface ExperimentRecord extends Base {
  name: string;
  started_on: string;
  stopped_on: Nullable<string>;
  [field: string]: unknown;
}
export interface DatapointRecord {
  public_id: string;
  event_public_id: string;
  experiment_public_id: Nullable<string>;
  value: number;
  timestamp: string;
  [field: string]: unknown;
}
export interface LogEntryRecord extends Base {
  content: string;
  logging_type: 'error' | 'warning' | 'info';
  status_type: 'read' | 'unread';
  user_public_id: Nullable<string>;
  [field: string]: unknown;
}
export interface RuleRecord extends Base {
  name: string;
  event_public_id: string;
  operator: 'gt' | 'lt' | 'eq' | 'gte' | 'lte' | 'between' | 'not_between';
  threshold: number;
  threshold_high: Nullable<number>;
  action_type: 'log' | 'webhook';
  webhook_event_type: Nullable<string>;
  cooldown_seconds: number;
  enabled: boolean;
  last_triggered_at: Nullable<string>;
  [field: string]: unknown;
}
export interface WebhookRecord extends Base {
  url: string;
  events: string[];
  enabled: boolean;
  has_secret: boolean;
  [field: string]: unknown;
}
export interface WebhookDeliveryRecord extends Base {
  webhook_public_id: Nullable<string>;
  event_type: string;
  payload: unknown;
  status: 'pending' | 'delivered' | 'dead_letter';
  attempts: number;
  response_code: Nullable<number>;
  last_error: Nullable<string>;
  delivered_on: Nullable<string>;
  next_attempt_at: Nullable<string>;
  [field: string]: unknown;
}
export interface FirmwareUpdateRecord extends Base {
  version: string;
  release_notes: Nullable<string>;
  status: 'pending' | 'downloading' | 'verifying' | 'applying' | 'completed' | 'failed' | 'rolled_back';
  has_file: boolean;
  file_hash_sha256: Nullable<string>;
  file_size_bytes: Nullable<number>;
  [field: string]: unknown;
}
export interface DashboardRecord extends Base {
  name: string;
  is_global: boolean;
  user_public_id: Nullable<string>;
  [field: string]: unknown;
}
export interface DashboardWidgetRecord extends Base {
  dashboard_public_id: string;
  widget_type: 'line_chart' | 'gauge' | 'stat_card' | 'actuator_toggle';
  title: string;
  event_public_id: Nullable<string>;
  x: number;
  y: number;
  w: number;
  h: number;
  config: Record<string, unknown>;
  [field: string]: unknown;
}
export interface PluginPackageRecord extends Base {
  package_name: string;
  version: string;
  source: 'uploaded' | 'bundled';
  file_hash_sha256: Nullable<string>;
  file_size_bytes: Nullable<number>;
  [field: string]: unknown;
}
export interface PluginInstanceRecord extends Base {
  plugin_id: string;
  instance_name: string;
  demo_mode: boolean;
  enabled: boolean;
  status: 'inactive' | 'connected' | 'demo' | 'error';
  config: Record<string, unknown>;
  last_seen_at?: Nullable<string>;
  [field: string]: unknown;
}
export interface ChannelMappingRecord extends Base {
  plugin_instance_public_id: string;
  channel_id: string;
  channel_name: Nullable<string>;
  direction: 'input' | 'output' | 'bidirectional';
  unit: Nullable<string>;
  event_public_id: Nullable<string>;
  [field: string]: unknown;
}
export interface ApiTokenRecord extends Base {
  name: string;
  plugin_instance_public_id: Nullable<string>;
  expires_at: Nullable<string>;
  last_used_at: Nullable<string>;
  /** Only in the reply of `api_tokens.create`, once. */
  token?: string;
  [field: string]: unknown;
}

/** The record type of each resource. @see PROTOCOL.md §5 */
export interface ResourceRecords {
  users: UserRecord;
  events: EventRecord;
  experiments: ExperimentRecord;
  datapoints: DatapointRecord;
  log_entries: LogEntryRecord;
  rules: RuleRecord;
  webhooks: WebhookRecord;
  webhook_deliveries: WebhookDeliveryRecord;
  firmware_updates: FirmwareUpdateRecord;
  dashboards: DashboardRecord;
  dashboard_widgets: DashboardWidgetRecord;
  plugin_packages: PluginPackageRecord;
  plugin_instances: PluginInstanceRecord;
  channel_mappings: ChannelMappingRecord;
  api_tokens: ApiTokenRecord;
}
export type ResourceName = keyof ResourceRecords;

export interface Page<R> {
  items: R[];
  total: number;
  page: number;
  page_size: number;
  pages: number;
}
export interface Deleted {
  status: 'success';
  message: string;
}
interface CrudReplies<R> {
  list: Page<R>;
  get: R;
  create: R;
  update: R;
  delete: Deleted;
}

/** Replies of the ops that are not plain CRUD. */
export interface SpecialReplies {
  ingest: IngestReply;
  subscribe: { subscribed: string[]; topics?: string[] };
  unsubscribe: { unsubscribed: string[]; topics?: string[] };
  'auth.me': { user: UserRecord; role: string; plugin_instance_public_id?: string };
  'auth.logout': { status: 'success' };
  'auth.change_password': { status: 'success' };
  'datapoints.query': { points?: [number, number][]; buckets?: [number, number, number, number, number][] };
  'datapoints.latest': { items: { event_public_id: string; ts: number; value: number }[] };
  'experiments.stop': ExperimentRecord;
  'firmware_updates.apply': FirmwareUpdateRecord;
  'firmware_updates.rollback': FirmwareUpdateRecord;
  'firmware_updates.check': FirmwareUpdateRecord | null;
  'firmware_updates.report': PluginInstanceRecord;
  'commands.send': { command_id: string; result: unknown };
  'commands.reply': { command_id: string; status: 'received' };
  'webhooks.test': WebhookDeliveryRecord;
  'webhook_deliveries.retry': WebhookDeliveryRecord;
}

/** The reply `data` of `op`. */
export type ReplyOf<Op extends string> = Op extends keyof SpecialReplies
  ? SpecialReplies[Op]
  : Op extends `${infer Resource}.${infer Verb}`
    ? Resource extends ResourceName
      ? Verb extends keyof CrudReplies<unknown>
        ? CrudReplies<ResourceRecords[Resource]>[Verb]
        : never
      : never
    : never;
