/**
 * The resources: each table with the singular name its messages use (`Event '<id>' not found`).
 * @see PROTOCOL.md §5, §10
 */
import { getTableName } from 'drizzle-orm';
import * as t from './schema.js';

/** Resource name (the table's) → its table and singular entity name. */
export const RESOURCES = {
  users: { table: t.users, entity: 'User' },
  events: { table: t.events, entity: 'Event' },
  experiments: { table: t.experiments, entity: 'Experiment' },
  datapoints: { table: t.datapoints, entity: 'Datapoint' },
  log_entries: { table: t.logEntries, entity: 'LogEntry' },
  rules: { table: t.rules, entity: 'Rule' },
  webhooks: { table: t.webhooks, entity: 'Webhook' },
  webhook_deliveries: { table: t.webhookDeliveries, entity: 'WebhookDelivery' },
  firmware_updates: { table: t.firmwareUpdates, entity: 'FirmwareUpdate' },
  dashboards: { table: t.dashboards, entity: 'Dashboard' },
  dashboard_widgets: { table: t.dashboardWidgets, entity: 'DashboardWidget' },
  plugin_packages: { table: t.pluginPackages, entity: 'PluginPackage' },
  plugin_instances: { table: t.pluginInstances, entity: 'PluginInstance' },
  channel_mappings: { table: t.channelMappings, entity: 'ChannelMapping' },
  api_tokens: { table: t.apiTokens, entity: 'ApiToken' },
} as const;

export type ResourceName = keyof typeof RESOURCES;

const BY_TABLE = new Map<string, string>(
  Object.values(RESOURCES).map(({ table, entity }) => [getTableName(table), entity]),
);

/** `events` → `Event`; an internal table gets a readable fallback. */
export function entityNameOfTable(tableName: string): string {
  return BY_TABLE.get(tableName) ?? tableName;
}
