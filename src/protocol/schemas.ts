/**
 * What clients may write, per resource: TypeBox schemas for `create` and `update`. Fields the
 * hub sets are read-only: they are dropped before validation (a client may send a record back
 * as it got it); any other unknown field is refused with `422`.
 * @see PROTOCOL.md §5, §10
 */
import { Kind, Type, TypeRegistry, type TObject, type TProperties, type TSchema, type TUnsafe } from '@sinclair/typebox';
// outbox.ts imports nothing: this keeps protocol/ below domain/ and db/.
import { WEBHOOK_EVENT_TYPES } from '../automation/outbox.js';
import { MAX_JSON_BYTES, MAX_JSON_DEPTH, jsonValueProblem } from './json-value.js';

/** Fields the hub sets; ignored on write. @see PROTOCOL.md §10 */
export const READ_ONLY_FIELDS: ReadonlySet<string> = new Set([
  'created_on',
  'started_on',
  'stopped_on',
  'last_triggered_at',
  'last_used_at',
  'has_file',
  'has_secret',
  'file_hash_sha256',
  'file_size_bytes',
  'status',
  'user_public_id',
  // v1.1 (PROTOCOL.md §13): presence and firmware progress of plugin instances, counts of updates.
  'last_seen_at',
  'firmware_update_public_id',
  'firmware_status',
  'firmware_version',
  'devices_in_progress',
  'devices_completed',
  'devices_failed',
  // v1.1 (PROTOCOL.md §17): whether a user signs in through the OpenID provider.
  'sso_linked',
]);

const Str = (min: number, max: number) => Type.String({ minLength: min, maxLength: max });
const Uuid = () => Type.String({ format: 'uuid' });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Num = () => Type.Number();
const Enum = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));
/** The TypeBox kind of a bounded JSON value (see json-value.ts); its 422 message says which bound. */
export const BOUNDED_JSON = 'BoundedJson';
if (!TypeRegistry.Has(BOUNDED_JSON)) {
  TypeRegistry.Set(BOUNDED_JSON, (schema: { type?: string }, value) => {
    if (schema.type === 'object' && (typeof value !== 'object' || value === null || Array.isArray(value))) return false;
    return jsonValueProblem(value) === undefined;
  });
}
/** Any JSON value, nested at most MAX_JSON_DEPTH deep and at most MAX_JSON_BYTES long. */
export const JsonValue = (): TUnsafe<unknown> =>
  Type.Unsafe<unknown>({ [Kind]: BOUNDED_JSON, maxDepth: MAX_JSON_DEPTH, maxBytes: MAX_JSON_BYTES });
/** A JSON object, bounded like {@link JsonValue}. */
const JsonObject = (): TUnsafe<Record<string, unknown>> =>
  Type.Unsafe<Record<string, unknown>>({ [Kind]: BOUNDED_JSON, type: 'object', maxDepth: MAX_JSON_DEPTH, maxBytes: MAX_JSON_BYTES });

export const EVENT_TYPES = ['sensor', 'actuator', 'range', 'cmd_button', 'cmd_opened', 'cmd_closed'] as const;
/** The event types a webhook may subscribe to (PROTOCOL.md §12), from the outbox that sends them. */
export const WEBHOOK_EVENTS = WEBHOOK_EVENT_TYPES;

/** `create` takes `required` and `optional`; `update` takes `public_id` and any of `updatable`. */
interface WriteShape {
  required: TProperties;
  optional: TProperties;
  /** Fields `update` may change (default: all of required and optional). */
  updatable?: readonly string[];
}

const shapes = {
  users: {
    required: { username: Str(2, 50), password: Str(8, 1024) },
    optional: {
      email: Nullable(Type.String({ format: 'email', maxLength: 255 })),
      role: Enum(['admin', 'operator', 'viewer']),
      // PROTOCOL.md §17: an admin may close the password door for users who sign in by SSO.
      password_login: Type.Boolean(),
    },
  },
  events: {
    required: { name: Str(1, 255) },
    optional: {
      unit: Str(0, 50),
      min_value: Nullable(Num()),
      max_value: Nullable(Num()),
      event_type: Enum(EVENT_TYPES),
    },
  },
  experiments: { required: { name: Str(1, 255) }, optional: {} },
  log_entries: {
    required: { content: Str(1, 65_535) },
    optional: { logging_type: Enum(['error', 'warning', 'info']), status_type: Enum(['read', 'unread']) },
  },
  rules: {
    required: {
      name: Str(1, 255),
      event_public_id: Uuid(),
      operator: Enum(['gt', 'lt', 'eq', 'gte', 'lte', 'between', 'not_between']),
      threshold: Num(),
    },
    optional: {
      threshold_high: Nullable(Num()),
      action_type: Enum(['log', 'webhook']),
      webhook_event_type: Nullable(Enum(WEBHOOK_EVENTS)),
      cooldown_seconds: Type.Integer({ minimum: 0, maximum: 31_536_000 }),
      enabled: Type.Boolean(),
    },
  },
  webhooks: {
    required: {
      url: Type.String({ format: 'http-url', maxLength: 2048 }),
      events: Type.Array(Enum(WEBHOOK_EVENTS), { minItems: 1, maxItems: WEBHOOK_EVENTS.length, uniqueItems: true }),
    },
    optional: { secret: Nullable(Str(1, 1024)), enabled: Type.Boolean() },
  },
  firmware_updates: {
    required: { version: Type.String({ pattern: '^\\d{1,9}\\.\\d{1,9}\\.\\d{1,9}$' }) },
    optional: { release_notes: Str(0, 65_535) },
  },
  dashboards: { required: { name: Str(1, 255) }, optional: { is_global: Type.Boolean() } },
  dashboard_widgets: {
    required: { dashboard_public_id: Uuid(), widget_type: Enum(['line_chart', 'gauge', 'stat_card', 'actuator_toggle']) },
    optional: {
      title: Str(0, 255),
      event_public_id: Nullable(Uuid()),
      x: Type.Integer({ minimum: 0, maximum: 10_000 }),
      y: Type.Integer({ minimum: 0, maximum: 10_000 }),
      w: Type.Integer({ minimum: 1, maximum: 12 }),
      h: Type.Integer({ minimum: 1, maximum: 12 }),
      config: JsonObject(),
    },
    updatable: ['widget_type', 'title', 'event_public_id', 'x', 'y', 'w', 'h', 'config'],
  },
  plugin_packages: {
    required: { package_name: Str(1, 255), version: Str(1, 50) },
    optional: { source: Enum(['uploaded', 'bundled']) },
  },
  plugin_instances: {
    required: { plugin_id: Str(1, 255), instance_name: Str(1, 255) },
    optional: { demo_mode: Type.Boolean(), enabled: Type.Boolean(), config: JsonObject() },
  },
  channel_mappings: {
    required: { plugin_instance_public_id: Uuid(), channel_id: Str(1, 255) },
    optional: {
      channel_name: Str(0, 255),
      direction: Enum(['input', 'output', 'bidirectional']),
      unit: Str(0, 50),
      event_public_id: Nullable(Uuid()),
    },
    updatable: ['channel_id', 'channel_name', 'direction', 'unit', 'event_public_id'],
  },
  api_tokens: {
    required: { name: Str(1, 255) },
    optional: {
      plugin_instance_public_id: Nullable(Uuid()),
      expires_at: Nullable(Type.String({ format: 'date-time' })),
    },
    updatable: ['name', 'expires_at'],
  },
} satisfies Record<string, WriteShape>;

export type WritableResource = keyof typeof shapes;

/** The `create` schema of a resource. */
export function createSchema(resource: WritableResource): TObject {
  const shape: WriteShape = shapes[resource];
  const properties: TProperties = { ...shape.required };
  for (const [key, schema] of Object.entries(shape.optional)) properties[key] = Type.Optional(schema);
  return Type.Object(properties, { additionalProperties: false });
}

/** The `update` schema of a resource: `public_id` and any updatable field. */
export function updateSchema(resource: WritableResource): TObject {
  const shape: WriteShape = shapes[resource];
  const all: TProperties = { ...shape.required, ...shape.optional };
  const updatable = shape.updatable ?? Object.keys(all);
  const properties: TProperties = { public_id: Type.String({ maxLength: 64 }) };
  for (const key of updatable) {
    const schema = all[key];
    if (schema !== undefined) properties[key] = Type.Optional(schema);
  }
  return Type.Object(properties, { additionalProperties: false });
}

/** `{ "public_id" }`, for get, delete and the state-changing ops. */
export const ByPublicId = Type.Object({ public_id: Type.String({ maxLength: 64 }) }, { additionalProperties: false });

/** `{ page?, page_size?, filter? }`; the bounds are checked by the repository with clear messages. */
export const ListQuery = Type.Object(
  {
    page: Type.Optional(Type.Unknown()),
    page_size: Type.Optional(Type.Unknown()),
    filter: Type.Optional(Type.Unknown()),
    order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
  },
  { additionalProperties: false },
);

/** `data` without the read-only fields (which are ignored on write). */
export function withoutReadOnly(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (!READ_ONLY_FIELDS.has(key)) out[key] = value;
  }
  return out;
}
