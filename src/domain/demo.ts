/**
 * The demo simulator (`HUB_DEMO=1`, on by default under `npm start`): a plugin instance in demo
 * mode with three channels, streaming simulated readings through the real ingest path (queue,
 * COPY, commit, live pushes), so a fresh hub has something to show.
 * @see PROTOCOL.md §9
 */
import { and, eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import { principalUser, type Principal } from '../auth/principal.js';
import type { Db } from '../db/database.js';
import { channelMappings, events, pluginInstances, users } from '../db/schema.js';
import type { CommandRouter } from '../devices/commands.js';
import type { DeviceLink } from '../devices/links.js';
import type { IngestService } from '../ingest/ingest-service.js';

const INSTANCE = 'demo';
const SIGNALS = [
  { channel: 'temperature', name: 'demo_temperature', unit: 'C', min: -10, max: 60, base: 21, amplitude: 4, periodS: 60 },
  { channel: 'pressure', name: 'demo_pressure', unit: 'hPa', min: 950, max: 1050, base: 1013, amplitude: 6, periodS: 300 },
  { channel: 'humidity', name: 'demo_humidity', unit: '%', min: 0, max: 100, base: 45, amplitude: 10, periodS: 120 },
] as const;
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
  for (const s of SIGNALS) {
    await db
      .insert(events)
      .values({ name: s.name, unit: s.unit, min_value: s.min, max_value: s.max, event_type: 'sensor' })
      .onConflictDoNothing();
    const [event] = await db.select({ id: events.public_id }).from(events).where(eq(events.name, s.name));
    const [mapping] = await db
      .select({ id: channelMappings.public_id })
      .from(channelMappings)
      .where(and(eq(channelMappings.plugin_instance_public_id, instance.public_id), eq(channelMappings.channel_id, s.channel)));
    if (mapping === undefined && event !== undefined) {
      await db.insert(channelMappings).values({
        plugin_instance_public_id: instance.public_id,
        channel_id: s.channel,
        channel_name: s.name,
        unit: s.unit,
        event_public_id: event.id,
      });
    }
  }
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
