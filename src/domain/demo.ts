/**
 * The demo simulator (`HUB_DEMO=1`, on by default under `npm start`): a plugin instance in demo
 * mode with three channels, streaming simulated readings through the real ingest path (queue,
 * COPY, commit, live pushes), so a fresh hub has something to show.
 * @see PROTOCOL.md §9
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { principalUser, type Principal } from '../auth/principal.js';
import type { Db } from '../db/database.js';
import { channelMappings, dashboards, dashboardWidgets, events, pluginInstances, users } from '../db/schema.js';
import type { CommandRouter } from '../devices/commands.js';
import type { DeviceLink } from '../devices/links.js';
import type { IngestService } from '../ingest/ingest-service.js';

const INSTANCE = 'demo';
const SIGNALS = [
  { channel: 'temperature', name: 'demo_temperature', unit: 'C', min: -10, max: 60, base: 21, amplitude: 4, periodS: 60 },
  { channel: 'pressure', name: 'demo_pressure', unit: 'hPa', min: 950, max: 1050, base: 1013, amplitude: 6, periodS: 300 },
  { channel: 'humidity', name: 'demo_humidity', unit: '%', min: 0, max: 100, base: 45, amplitude: 10, periodS: 120 },
] as const;
/** Outputs of the demo device: values written from the web app (actuator widgets), not simulated. */
const OUTPUTS = [
  { channel: 'heater', name: 'demo_heater', unit: '', min: 0, max: 1, type: 'actuator' },
  { channel: 'fan', name: 'demo_fan', unit: '%', min: 0, max: 100, type: 'range' },
] as const;
/** The global dashboard seeded for newcomers; the web app opens it on a first visit. */
export const DEMO_DASHBOARD = 'Demo';
/** The advisory lock around seeding the demo dashboard. */
const DEMO_SEED_LOCK = 0x4855_4244; // 'HUBD'
/** Readings per channel per second. */
const RATE_HZ = 10;

export interface DemoSimulator {
  stop(): void;
}

/** What the demo needs of the devices layer: to count as a connected device and answer commands. */
export interface DemoDevice {
  readonly presence: { opened(link: DeviceLink): void; closed(link: DeviceLink): void };
  readonly commands: Pick<CommandRouter, 'reply'>;
}

/** The demo's one link: a device inside the hub. */
const DEMO_LINK_ID = -1;

/**
 * Creates what the demo needs (once) and starts streaming; returns a handle to stop it. While it
 * streams, its instance is `connected` and answers the command `ping` (so commands can be tried
 * on a fresh hub); any other command gets a device error.
 */
export async function startDemo(db: Db, ingest: IngestService, device: DemoDevice, log: Logger): Promise<DemoSimulator> {
  const [admin] = await db.select().from(users).where(eq(users.role, 'admin')).limit(1);
  if (admin === undefined) throw new Error('the demo needs an admin user');
  await db
    .insert(pluginInstances)
    .values({ plugin_id: 'simulator', instance_name: INSTANCE, demo_mode: true, status: 'demo' })
    .onConflictDoNothing();
  const [instance] = await db.select().from(pluginInstances).where(eq(pluginInstances.instance_name, INSTANCE));
  if (instance === undefined) throw new Error('could not create the demo plugin instance');
  const ids = new Map<string, string>();
  const channels = [
    ...SIGNALS.map((s) => ({ ...s, type: 'sensor' as const, direction: 'input' as const })),
    ...OUTPUTS.map((s) => ({ ...s, direction: 'output' as const })),
  ];
  for (const s of channels) {
    await db
      .insert(events)
      .values({ name: s.name, unit: s.unit, min_value: s.min, max_value: s.max, event_type: s.type })
      .onConflictDoNothing();
    const [event] = await db.select({ id: events.public_id }).from(events).where(eq(events.name, s.name));
    const [mapping] = await db
      .select({ id: channelMappings.public_id })
      .from(channelMappings)
      .where(and(eq(channelMappings.plugin_instance_public_id, instance.public_id), eq(channelMappings.channel_id, s.channel)));
    if (event !== undefined) ids.set(s.name, event.id);
    if (mapping === undefined && event !== undefined) {
      await db.insert(channelMappings).values({
        plugin_instance_public_id: instance.public_id,
        channel_id: s.channel,
        channel_name: s.name,
        direction: s.direction,
        unit: s.unit,
        event_public_id: event.id,
      });
    }
  }
  await seedDashboard(db, admin.public_id, ids);
  // The simulator acts as a device of its instance, inside the hub (no token, no socket).
  const principal: Principal = {
    role: 'device',
    user: principalUser(admin),
    kind: 'api_token',
    tokenId: `demo:${instance.public_id}`,
    expiresAt: null,
    pluginInstancePublicId: instance.public_id,
  };
  log.info({ instance: instance.public_id, channels: SIGNALS.length, rateHz: RATE_HZ }, 'demo simulator streaming');
  const timer = setInterval(() => {
    const now = Date.now();
    const points = SIGNALS.flatMap((s) =>
      Array.from({ length: RATE_HZ }, (_, i) => {
        const ts = now - 1000 + (i * 1000) / RATE_HZ;
        const value = s.base + s.amplitude * Math.sin((2 * Math.PI * ts) / (s.periodS * 1000)) + (Math.random() - 0.5) * s.amplitude * 0.1;
        return { channel: s.channel, value: Math.round(value * 100) / 100, ts };
      }),
    );
    ingest
      .submit({ points }, principal)
      .then(({ committed }) => committed)
      .catch((err: unknown) => log.debug({ err }, 'demo reading not stored'));
  }, 1000);
  timer.unref();
  const link: DeviceLink = {
    id: DEMO_LINK_ID,
    instance: instance.public_id,
    push: (op, data) => {
      if (op !== 'command') return true;
      const { command_id, name } = data as { command_id: string; name: string };
      // Answered on the next turn, as a device over a socket would.
      setImmediate(() =>
        device.commands.reply(
          instance.public_id,
          command_id,
          name === 'ping' ? { ok: true, result: { pong: true, at: new Date().toISOString() } } : { ok: false, error: `the demo knows only "ping", not "${name}"` },
        ),
      );
      return true;
    },
  };
  device.presence.opened(link);
  return {
    stop: () => {
      clearInterval(timer);
      device.presence.closed(link);
    },
  };
}

/**
 * The demo dashboard, global and owned by the admin: created once (a hub restarted keeps the one
 * it has, with whatever its users changed; a deleted one comes back at the next start).
 */
async function seedDashboard(db: Db, owner: string, ids: ReadonlyMap<string, string>): Promise<void> {
  const id = (name: string): string | null => ids.get(name) ?? null;
  await db.transaction(async (tx) => {
    // Two hubs starting at once on one database must not seed it twice.
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${DEMO_SEED_LOCK})`);
    const [existing] = await tx
      .select({ id: dashboards.public_id })
      .from(dashboards)
      .where(and(eq(dashboards.name, DEMO_DASHBOARD), eq(dashboards.is_global, true)))
      .limit(1);
    if (existing !== undefined) return;
    const [dashboard] = await tx.insert(dashboards).values({ name: DEMO_DASHBOARD, is_global: true, user_public_id: owner }).returning({ id: dashboards.public_id });
    if (dashboard === undefined) return;
    const minutes = (m: number): number => m * 60_000;
    const widgets: Omit<typeof dashboardWidgets.$inferInsert, 'dashboard_public_id'>[] = [
      { widget_type: 'line_chart', title: 'Temperature', event_public_id: id('demo_temperature'), x: 0, y: 0, w: 8, h: 4, config: { window_ms: minutes(20), colors: ['#f0883e'], decimals: 1 } },
      { widget_type: 'stat_card', title: 'Temperature now', event_public_id: id('demo_temperature'), x: 8, y: 0, w: 4, h: 2, config: { decimals: 1 } },
      { widget_type: 'gauge', title: 'Humidity', event_public_id: id('demo_humidity'), x: 8, y: 2, w: 4, h: 2, config: { decimals: 0, colors: ['#3fb950'] } },
      { widget_type: 'line_chart', title: 'Pressure', event_public_id: id('demo_pressure'), x: 0, y: 4, w: 6, h: 3, config: { window_ms: minutes(60), colors: ['#58a6ff'], decimals: 1 } },
      {
        widget_type: 'line_chart',
        title: 'Temperature and humidity',
        event_public_id: id('demo_temperature'),
        x: 6, y: 4, w: 6, h: 3,
        config: { window_ms: minutes(20), events: [id('demo_humidity')].filter((e) => e !== null), colors: ['#f0883e', '#3fb950'], decimals: 1 },
      },
      { widget_type: 'actuator_toggle', title: 'Heater', event_public_id: id('demo_heater'), x: 0, y: 7, w: 3, h: 2, config: {} },
      { widget_type: 'actuator_toggle', title: 'Fan', event_public_id: id('demo_fan'), x: 3, y: 7, w: 3, h: 2, config: { step: 5, decimals: 0 } },
      { widget_type: 'stat_card', title: 'Pressure now', event_public_id: id('demo_pressure'), x: 6, y: 7, w: 3, h: 2, config: { decimals: 1 } },
      { widget_type: 'gauge', title: 'Temperature', event_public_id: id('demo_temperature'), x: 9, y: 7, w: 3, h: 2, config: { decimals: 1, colors: ['#f0883e'] } },
    ];
    await tx.insert(dashboardWidgets).values(widgets.map((w) => ({ ...w, dashboard_public_id: dashboard.id })));
  });
}
