/**
 * Presence (PROTOCOL.md §13): a plugin instance is `connected` while at least one of its device
 * sockets is open, otherwise `inactive` (`demo` for a demo instance). Each change commits, in one
 * transaction, the new status, a log entry, the `device.online` / `device.offline` deliveries and
 * a NOTIFY on which every hub pushes `device` to its `devices` topic subscribers.
 * `last_seen_at` follows every frame, written in batches (one UPDATE per flush, never one per
 * frame) within {@link SEEN_FLUSH_MS}, and exactly at disconnect.
 * @see PROTOCOL.md §11, §12, §13
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import { audit } from '../automation/audit.js';
import { drizzleRunner } from '../automation/drizzle-runner.js';
import { enqueueDeliveries } from '../automation/outbox.js';
import type { Db } from '../db/database.js';
import { pluginInstances } from '../db/schema.js';
import type { PresenceLeases } from '../cluster/presence-leases.js';
import { LEASE_HEARTBEAT_MS, LEASE_SWEEP_MS } from '../cluster/presence-leases.js';
import type { DeviceLink, DeviceLinks } from './links.js';

/** The NOTIFY channel of presence changes. */
export const DEVICE_CHANNEL = 'hub_device';
/** `last_seen_at` is written at least this often while frames arrive (the contract says 10 s). */
export const SEEN_FLUSH_MS = 5_000;

/** The `device` push. */
export interface DeviceStatusPush {
  plugin_instance_public_id: string;
  instance_name: string;
  status: string;
  at: string;
}

export class DevicePresence {
  /** Changes of one instance run one after another, in the order the sockets opened and closed. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly seenAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private leaseTimers: NodeJS.Timeout[] = [];
  private stopped = false;
  /** Called when this hub's first link of an instance opens, and when its last one closes (command routing). */
  onFirstLink: (instance: string) => void = () => undefined;
  onLastLink: (instance: string) => void = () => undefined;

  /**
   * `leases` (several hubs, NATS_URL): an instance is `connected` while any hub holds a lease
   * of it (see src/cluster/presence-leases.ts); without, this hub's own links decide.
   */
  constructor(
    private readonly db: Db,
    readonly links: DeviceLinks,
    private readonly log: Logger,
    private readonly leases?: PresenceLeases,
  ) {}

  /**
   * Starts the `last_seen_at` flushes and, first, marks as offline the instances a previous run
   * of the hub left `connected` (it held their sockets and died): no ghost stays connected.
   * With leases, the ghosts are the instances no hub holds a lease of, found by the sweep (now
   * and every {@link LEASE_SWEEP_MS}); a lone hub's reset would be wrong beside other hubs.
   */
  async start(): Promise<void> {
    if (this.leases !== undefined) {
      await this.sweep();
      const beat = setInterval(() => void this.leases?.heartbeat([...this.links.instances()]), LEASE_HEARTBEAT_MS);
      const sweep = setInterval(() => void this.sweep(), LEASE_SWEEP_MS);
      beat.unref();
      sweep.unref();
      this.leaseTimers = [beat, sweep];
      this.timer = setInterval(() => void this.flush(), SEEN_FLUSH_MS);
      this.timer.unref();
      return;
    }
    const ghosts = await this.db.select({ id: pluginInstances.public_id }).from(pluginInstances).where(eq(pluginInstances.status, 'connected'));
    for (const { id } of ghosts) if (this.links.count(id) === 0) await this.change(id, false, null);
    this.timer = setInterval(() => void this.flush(), SEEN_FLUSH_MS);
    this.timer.unref();
  }

  /** Writes what is pending and waits for the changes under way (at shutdown, after the sockets closed). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const t of this.leaseTimers) clearInterval(t);
    await this.flush();
    await Promise.all(this.chains.values());
  }

  opened(link: DeviceLink): void {
    this.seen(link.instance);
    if (this.links.opened(link) === 1) {
      this.onFirstLink(link.instance);
      this.enqueue(link.instance, () => this.change(link.instance, true, null));
    }
  }

  closed(link: DeviceLink): void {
    const at = new Date();
    this.seenAt.delete(link.instance);
    if (this.links.closed(link) === 0) {
      this.onLastLink(link.instance);
      this.enqueue(link.instance, () => this.change(link.instance, false, at));
    } else this.seen(link.instance);
  }

  /** A frame from a device of `instance`. Cheap: a map write. */
  seen(instance: string): void {
    this.seenAt.set(instance, Date.now());
  }

  private enqueue(instance: string, work: () => Promise<void>, attempt = 0): void {
    const previous = this.chains.get(instance) ?? Promise.resolve();
    const next = previous
      .then(work)
      .catch((err: unknown) => {
        // The database was away: try again later (change() itself checks what the links say
        // then), so a device is never left `connected` or `inactive` against its sockets.
        const delayMs = Math.min(30_000, 500 * 2 ** attempt);
        this.log.warn({ err, instance, retryMs: delayMs }, 'could not record a device status change; will retry');
        if (!this.stopped) {
          const timer = setTimeout(() => this.enqueue(instance, () => this.change(instance, this.links.count(instance) > 0, new Date()), attempt + 1), delayMs);
          timer.unref();
        }
      })
      .finally(() => {
        if (this.chains.get(instance) === next) this.chains.delete(instance);
      });
    this.chains.set(instance, next);
  }

  /** Online (`connected`) or offline (`inactive`/`demo`, `last_seen_at` = `at` when known), with its effects. */
  private async change(instance: string, online: boolean, at: Date | null): Promise<void> {
    // The links may have changed while this waited its turn: the last word is theirs.
    if (online !== this.links.count(instance) > 0) return;
    // Several hubs: this hub's lease first (put before `connected`, so no other hub's stale
    // "nobody holds it" can follow it), then the change, decided under the row's lock.
    const leases = this.leases;
    if (leases !== undefined) await (online ? leases.acquire(instance) : leases.release(instance));
    const offline = sql`CASE WHEN ${pluginInstances.demo_mode} THEN 'demo'::instance_status ELSE 'inactive'::instance_status END`;
    const next = online ? sql`'connected'::instance_status` : offline;
    await this.db.transaction(async (tx) => {
      if (!online && leases !== undefined) {
        await tx.execute(sql`SELECT 1 FROM ${pluginInstances} WHERE ${pluginInstances.public_id} = ${instance} FOR UPDATE`);
        if (this.links.count(instance) > 0 || (await leases.heldElsewhere(instance))) return;
      }
      const [row] = await tx
        .update(pluginInstances)
        .set({ status: next as never, ...(at === null ? {} : { last_seen_at: at }) })
        .where(and(eq(pluginInstances.public_id, instance), sql`${pluginInstances.status} IS DISTINCT FROM ${next}`))
        .returning({ public_id: pluginInstances.public_id, instance_name: pluginInstances.instance_name, status: pluginInstances.status });
      if (row === undefined) return;
      const push: DeviceStatusPush = { plugin_instance_public_id: row.public_id, instance_name: row.instance_name, status: row.status, at: new Date().toISOString() };
      await audit.deviceStatus(tx, row, row.status);
      await enqueueDeliveries(drizzleRunner(tx), online ? 'device.online' : 'device.offline', {
        plugin_instance_public_id: row.public_id,
        instance_name: row.instance_name,
      });
      await tx.execute(sql`SELECT pg_notify(${DEVICE_CHANNEL}, ${JSON.stringify(push)})`);
    });
  }

  /**
   * Several hubs: instances `connected` that no hub holds a lease of go offline (their hub died
   * without a word), and instances this hub holds that are not `connected` come back. Each
   * through the locked, conditional change: whichever hub gets there first records it, once.
   */
  private async sweep(): Promise<void> {
    const leases = this.leases;
    if (leases === undefined || this.stopped) return;
    try {
      const held = await leases.held();
      const rows = await this.db.select({ id: pluginInstances.public_id, status: pluginInstances.status }).from(pluginInstances).where(sql`${pluginInstances.status} = 'connected' OR ${pluginInstances.public_id} IN (SELECT jsonb_array_elements_text(${JSON.stringify([...this.links.instances()])}::jsonb)::uuid)`);
      for (const { id, status } of rows) {
        const mine = this.links.count(id) > 0;
        if (status === 'connected' && !mine && !held.has(id)) this.enqueue(id, () => this.change(id, false, null));
        else if (status !== 'connected' && mine) this.enqueue(id, () => this.change(id, true, null));
      }
    } catch (err) {
      this.log.debug({ err }, 'presence: lease sweep skipped (NATS or the database away)');
    }
  }

  /** One UPDATE for every instance seen since the last flush. */
  private async flush(): Promise<void> {
    if (this.seenAt.size === 0) return;
    const seen = [...this.seenAt];
    this.seenAt.clear();
    const rows = JSON.stringify(seen.map(([id, ms]) => ({ id, at: new Date(ms).toISOString() })));
    try {
      await this.db.execute(sql`
        UPDATE ${pluginInstances} p SET last_seen_at = s.at
          FROM jsonb_to_recordset(${rows}::jsonb) AS s(id uuid, at timestamptz)
         WHERE p.public_id = s.id AND (p.last_seen_at IS NULL OR p.last_seen_at < s.at)`);
    } catch (err) {
      // Kept for the next flush, unless a newer time came meanwhile.
      for (const [id, ms] of seen) if (!this.seenAt.has(id)) this.seenAt.set(id, ms);
      this.log.warn({ err }, 'could not record last_seen_at');
    }
  }
}

