/** Minimal valid rows for every table, inserted for real, for tests that need parents. */
import { randomUUID } from 'node:crypto';
import type { Db } from '../../src/db/database.js';
import * as t from '../../src/db/schema.js';

const unique = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

/** Inserts one row of the named table with `values` over sensible defaults; returns its public_id. */
export async function insertRow(db: Db, table: keyof typeof makers, values: Record<string, unknown> = {}): Promise<string> {
  return makers[table](db, values);
}

type Maker = (db: Db, values: Record<string, unknown>) => Promise<string>;

const returning = async (query: Promise<{ public_id: string }[]>): Promise<string> => {
  const [row] = await query;
  if (row === undefined) throw new Error('insert returned nothing');
  return row.public_id;
};

const makers = {
  users: (db, v) =>
    returning(db.insert(t.users).values({ username: unique('user'), password_hash: 'x', role: 'viewer', ...v }).returning({ public_id: t.users.public_id })),
  events: (db, v) =>
    returning(db.insert(t.events).values({ name: unique('event'), unit: 'C', ...v }).returning({ public_id: t.events.public_id })),
  experiments: (db, v) =>
    returning(
      db
        .insert(t.experiments)
        .values({ name: unique('exp'), stopped_on: new Date(), ...v })
        .returning({ public_id: t.experiments.public_id }),
    ),
  datapoints: (db, v) =>
    returning(
      db
        .insert(t.datapoints)
        .values({ value: 1, timestamp: new Date(), ...(v as { event_public_id: string }) })
        .returning({ public_id: t.datapoints.public_id }),
    ),
  log_entries: (db, v) =>
    returning(db.insert(t.logEntries).values({ content: 'hello', ...v }).returning({ public_id: t.logEntries.public_id })),
  rules: (db, v) =>
    returning(
      db
        .insert(t.rules)
        .values({ name: unique('rule'), operator: 'gt', threshold: 1, ...(v as { event_public_id: string }) })
        .returning({ public_id: t.rules.public_id }),
    ),
  webhooks: (db, v) =>
    returning(
      db
        .insert(t.webhooks)
        .values({ url: 'http://127.0.0.1:9/hook', events: ['sensor.reading'], ...v })
        .returning({ public_id: t.webhooks.public_id }),
    ),
  webhook_deliveries: (db, v) =>
    returning(
      db
        .insert(t.webhookDeliveries)
        .values({ event_type: 'sensor.reading', payload: {}, ...(v as { webhook_public_id: string }) })
        .returning({ public_id: t.webhookDeliveries.public_id }),
    ),
  firmware_updates: (db, v) =>
    returning(
      db
        .insert(t.firmwareUpdates)
        .values({ version: `1.${Math.floor(Math.random() * 1e6)}.0`, ...v })
        .returning({ public_id: t.firmwareUpdates.public_id }),
    ),
  dashboards: (db, v) =>
    returning(db.insert(t.dashboards).values({ name: unique('dash'), ...v }).returning({ public_id: t.dashboards.public_id })),
  dashboard_widgets: (db, v) =>
    returning(
      db
        .insert(t.dashboardWidgets)
        .values({ widget_type: 'gauge', ...(v as { dashboard_public_id: string }) })
        .returning({ public_id: t.dashboardWidgets.public_id }),
    ),
  plugin_packages: (db, v) =>
    returning(
      db
        .insert(t.pluginPackages)
        .values({ package_name: unique('pkg'), version: '1.0.0', ...v })
        .returning({ public_id: t.pluginPackages.public_id }),
    ),
  plugin_instances: (db, v) =>
    returning(
      db
        .insert(t.pluginInstances)
        .values({ plugin_id: 'demo', instance_name: unique('inst'), ...v })
        .returning({ public_id: t.pluginInstances.public_id }),
    ),
  channel_mappings: (db, v) =>
    returning(
      db
        .insert(t.channelMappings)
        .values({ channel_id: unique('ch'), ...(v as { plugin_instance_public_id: string }) })
        .returning({ public_id: t.channelMappings.public_id }),
    ),
  api_tokens: (db, v) =>
    returning(
      db
        .insert(t.apiTokens)
        .values({ name: 'tok', token_hash: randomUUID().replaceAll('-', ''), ...(v as { user_public_id: string }) })
        .returning({ public_id: t.apiTokens.public_id }),
    ),
  ingest_sequences: (db, v) =>
    returning(db.insert(t.ingestSequences).values({ last_seq: 1, ...v }).returning({ public_id: t.ingestSequences.public_id })),
} satisfies Record<string, Maker>;
