/**
 * Every push the hub sends (`{"op", "data"}`, never with an `id`), with the schema of its data:
 * the AsyncAPI document describes them from here, and its test checks each is documented.
 * @see PROTOCOL.md §7, §11, §13, §14
 */
import { Type, type TSchema } from '@sinclair/typebox';

const Uuid = Type.String({ format: 'uuid' });
const Iso = Type.String({ format: 'date-time' });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export interface PushDef {
  readonly op: string;
  readonly summary: string;
  readonly data: TSchema;
}

export const PUSHES: readonly PushDef[] = [
  {
    op: 'readings',
    summary: 'Committed points of a subscribed event, [ts, value] pairs in time order; conflated: only the latest ones of a slow or rate-limited subscriber (§7)',
    data: Type.Object({
      event: Uuid,
      points: Type.Array(Type.Tuple([Type.Number(), Type.Number()])),
      conflated: Type.Optional(Type.Literal(true)),
    }),
  },
  {
    op: 'alert',
    summary: 'A rule triggered (topic alerts, §11)',
    data: Type.Object({
      rule_public_id: Uuid,
      rule_name: Type.String(),
      event_public_id: Uuid,
      event_name: Type.String(),
      value: Type.Number(),
      ts: Type.Number(),
      operator: Type.String(),
      threshold: Type.Number(),
      threshold_high: Nullable(Type.Number()),
      triggered_at: Iso,
    }),
  },
  {
    op: 'log_entry',
    summary: 'A new log entry, the record as log_entries.get gives it (topic log_entries, §11)',
    data: Type.Object({
      public_id: Uuid,
      created_on: Iso,
      content: Type.String(),
      logging_type: Type.Union([Type.Literal('error'), Type.Literal('warning'), Type.Literal('info')]),
      status_type: Type.Union([Type.Literal('read'), Type.Literal('unread')]),
      user_public_id: Nullable(Uuid),
    }),
  },
  {
    op: 'device',
    summary: "A plugin instance's status changed between connected and inactive (topic devices, §13)",
    data: Type.Object({ plugin_instance_public_id: Uuid, instance_name: Type.String(), status: Type.String(), at: Iso }),
  },
  {
    op: 'firmware',
    summary: "A device reported a firmware update's progress (topic firmware, §13)",
    data: Type.Object({
      firmware_update_public_id: Uuid,
      version: Type.String(),
      plugin_instance_public_id: Uuid,
      status: Type.String(),
      error: Type.Optional(Type.String()),
    }),
  },
  {
    op: 'command',
    summary: 'A command for this device, to answer with commands.reply (device sockets only, §13)',
    data: Type.Object({ command_id: Type.String(), name: Type.String(), payload: Type.Unknown() }),
  },
];
