/**
 * What ingest validates against, in memory: the events, each plugin instance's channel
 * mappings, and the running experiment. Loaded whole at start (and after the LISTEN connection
 * comes back, since notices sent meanwhile are lost); then kept up to date row by row from the
 * `hub_catalog` NOTIFY (migrations 0001, 0011), which carries the rows a statement changed, or
 * only the table's name for a large statement (then that table is read whole, once per burst).
 *
 * A change this hub made is waited for before it is acknowledged, so no permission outlives its
 * delete: {@link Catalog.reload} sends a marker NOTIFY of its own and returns once the marker
 * comes back, by which time every notice committed before it has been applied (PostgreSQL
 * delivers notifications in commit order). Without an echo (the LISTEN connection down) it reads
 * the part whole instead. So a write costs O(1) here, not a read of the whole table.
 */
import { randomUUID } from 'node:crypto';
import { isNull, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { channelMappings, events, experiments } from '../db/schema.js';
import { uuidToBytes } from './uuid7.js';

/** An event id in both forms: text for pushes, bytes for COPY. */
export interface EventRef {
  readonly id: string;
  readonly bytes: Buffer;
}

interface InstanceChannels {
  /** channel_id → its event (null: the channel is mapped to no event). */
  readonly channels: Map<string, EventRef | null>;
  /** Events mapped to the instance by any channel. */
  events: Set<string>;
}

export type CatalogPart = 'events' | 'channel_mappings' | 'experiments';

/** The NOTIFY channel of catalog changes. */
export const CATALOG_CHANNEL = 'hub_catalog';
/** How long a marker may take to come back before the part is read whole instead. */
const ECHO_TIMEOUT_MS = 2_000;

/** A mapping row as the trigger sends it: [plugin_instance_public_id, channel_id, event_public_id]. */
type MappingRow = [string, string, string | null];

/** A notice of the rows one statement changed (migration 0011). */
interface RowsNotice {
  readonly table: 'events' | 'channel_mappings';
  readonly old: unknown[];
  readonly new: unknown[];
}

export class Catalog {
  private events = new Map<string, EventRef>();
  private instances = new Map<string, InstanceChannels>();
  private experiment: EventRef | null = null;
  /** Every change of the maps runs here, one after another, in the order the notices came. */
  private chain: Promise<void> = Promise.resolve();
  /** Whole reads queued on the chain and not yet started: a burst of table notices shares one. */
  private readonly queuedReads = new Map<CatalogPart, Promise<void>>();
  /** Markers sent and not yet back. */
  private readonly markers = new Map<string, () => void>();
  private readonly markerPrefix = `sync:${randomUUID()}:`;
  private markerCount = 0;
  /** A marker in flight: callers that come after it was sent wait for the next one. */
  private syncing: Promise<boolean> | undefined;
  /** Notices arrive: markers can be used. False until one does, and after a marker was lost. */
  private hearing = false;
  private readonly listeners: ((part: CatalogPart) => void)[] = [];
  /** Whole reads of each part since start (`/metrics`): a write must not cost one. */
  readonly fullReads: Record<CatalogPart, number> = { events: 0, channel_mappings: 0, experiments: 0 };

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  /** Reads every part whole (at start, and after the LISTEN connection came back). */
  async load(): Promise<void> {
    await Promise.all([this.readWhole('events'), this.readWhole('channel_mappings'), this.readWhole('experiments')]);
  }

  /**
   * Makes the part reflect every change committed before the call: by a marker when notices
   * arrive, else by reading it whole. Calls during one are coalesced.
   */
  async reload(part: CatalogPart): Promise<void> {
    // One row: reading it is as cheap as a marker.
    if (part === 'experiments' || !this.hearing) return this.readWhole(part);
    if (await this.sync()) return;
    this.log.warn({ part }, 'catalog: no echo from LISTEN; reading the part whole');
    return this.readWhole(part);
  }

  /** Reads a part whole, queued after the notices already received; a read queued and not started is shared. */
  readWhole(part: CatalogPart): Promise<void> {
    const queued = this.queuedReads.get(part);
    if (queued !== undefined) return queued;
    const run = this.enqueue(async () => {
      this.queuedReads.delete(part);
      await this.fetch(part);
    });
    this.queuedReads.set(part, run);
    return run;
  }

  /**
   * A NOTIFY on {@link CATALOG_CHANNEL}: the rows a statement changed (applied in order), a
   * table's name (that part read whole), or a marker of this hub's. Rules and webhooks are not
   * the catalog's: their notices are ignored here.
   */
  notified(payload: string): void {
    this.hearing = true;
    if (payload.startsWith('sync:')) {
      const done = this.markers.get(payload);
      if (done !== undefined) void this.enqueue(async () => done());
      return;
    }
    if (payload === 'events' || payload === 'channel_mappings' || payload === 'experiments') {
      this.readWhole(payload).catch((err: unknown) => this.log.warn({ err, part: payload }, 'catalog reload failed'));
      return;
    }
    if (!payload.startsWith('{')) return;
    let notice: RowsNotice;
    try {
      notice = JSON.parse(payload) as RowsNotice;
    } catch (err) {
      this.log.warn({ err }, 'catalog: a notice that is not JSON; reading events and mappings whole');
      void this.readWhole('events').catch(() => undefined);
      void this.readWhole('channel_mappings').catch(() => undefined);
      return;
    }
    void this.enqueue(async () => this.apply(notice));
  }

  /** Runs `step` after everything queued before it; a failure is the caller's, the chain goes on. */
  private enqueue(step: () => Promise<void> | void): Promise<void> {
    const run = this.chain.then(step);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** One marker round trip, shared by the calls made before it was sent; false: no echo in time. */
  private async sync(): Promise<boolean> {
    if (this.syncing !== undefined) {
      await this.syncing.catch(() => undefined);
      // Another caller may have started the next marker already; it was sent after our call.
      if (this.syncing !== undefined) return this.syncing;
    }
    const run = this.sendMarker().finally(() => {
      if (this.syncing === run) this.syncing = undefined;
    });
    this.syncing = run;
    return run;
  }

  private async sendMarker(): Promise<boolean> {
    const marker = `${this.markerPrefix}${++this.markerCount}`;
    let timer: NodeJS.Timeout | undefined;
    const echoed = new Promise<boolean>((resolve) => {
      this.markers.set(marker, () => resolve(true));
      timer = setTimeout(() => resolve(false), ECHO_TIMEOUT_MS);
    });
    try {
      await this.db.execute(sql`SELECT pg_notify(${CATALOG_CHANNEL}, ${marker})`);
      const ok = await echoed;
      if (!ok) this.hearing = false;
      return ok;
    } finally {
      clearTimeout(timer);
      this.markers.delete(marker);
    }
  }

  /** Applies the rows of one statement: old ones removed, new ones added. */
  private apply(notice: RowsNotice): void {
    if (notice.table === 'events') {
      for (const id of notice.old as string[]) this.events.delete(id);
      for (const id of notice.new as string[]) this.events.set(id, this.events.get(id) ?? { id, bytes: uuidToBytes(id) });
      this.changed('events');
      return;
    }
    if (notice.table !== 'channel_mappings') return;
    const touched = new Set<string>();
    for (const [instance, channel] of notice.old as MappingRow[]) {
      this.instances.get(instance)?.channels.delete(channel);
      touched.add(instance);
    }
    for (const [instance, channel, event] of notice.new as MappingRow[]) {
      let entry = this.instances.get(instance);
      if (entry === undefined) {
        entry = { channels: new Map(), events: new Set() };
        this.instances.set(instance, entry);
      }
      entry.channels.set(channel, event === null ? null : this.refOf(event));
      touched.add(instance);
    }
    // An instance's events are those of its channels: recounted for the instances touched only.
    for (const instance of touched) {
      const entry = this.instances.get(instance);
      if (entry === undefined) continue;
      if (entry.channels.size === 0) {
        this.instances.delete(instance);
        continue;
      }
      const mapped = new Set<string>();
      for (const ref of entry.channels.values()) if (ref !== null) mapped.add(ref.id);
      entry.events = mapped;
    }
    this.changed('channel_mappings');
  }

  /** The event's shared ref (so its bytes are made once). */
  private refOf(id: string): EventRef {
    return this.events.get(id) ?? { id, bytes: uuidToBytes(id) };
  }

  /** Calls `listener` after each reload of a part (to drop what the change no longer allows). */
  onReload(listener: (part: CatalogPart) => void): void {
    this.listeners.push(listener);
  }

  /** The event with this public_id, if it exists. */
  event(publicId: string): EventRef | undefined {
    return this.events.get(publicId) ?? this.events.get(publicId.toLowerCase());
  }

  /** The event a device's channel maps to: undefined if no such channel, null if mapped to none. */
  channel(instancePublicId: string, channelId: string): EventRef | null | undefined {
    return this.instances.get(instancePublicId)?.channels.get(channelId);
  }

  /** May a device of this instance write this event (mapped by some channel)? */
  instanceHasEvent(instancePublicId: string, eventPublicId: string): boolean {
    return this.instances.get(instancePublicId)?.events.has(eventPublicId) ?? false;
  }

  /** The running experiment, recorded on every ingested point. */
  runningExperiment(): EventRef | null {
    return this.experiment;
  }

  get eventCount(): number {
    return this.events.size;
  }

  private async fetch(part: CatalogPart): Promise<void> {
    this.fullReads[part]++;
    switch (part) {
      case 'events': {
        const rows = await this.db.select({ id: events.public_id }).from(events);
        const next = new Map<string, EventRef>();
        for (const { id } of rows) next.set(id, this.events.get(id) ?? { id, bytes: uuidToBytes(id) });
        this.events = next;
        break;
      }
      case 'channel_mappings': {
        const rows = await this.db
          .select({ instance: channelMappings.plugin_instance_public_id, channel: channelMappings.channel_id, event: channelMappings.event_public_id })
          .from(channelMappings);
        const next = new Map<string, InstanceChannels>();
        for (const row of rows) {
          let entry = next.get(row.instance);
          if (entry === undefined) {
            entry = { channels: new Map(), events: new Set() };
            next.set(row.instance, entry);
          }
          const ref = row.event === null ? null : this.refOf(row.event);
          entry.channels.set(row.channel, ref);
          if (row.event !== null) entry.events.add(row.event);
        }
        this.instances = next;
        break;
      }
      case 'experiments': {
        const [running] = await this.db.select({ id: experiments.public_id }).from(experiments).where(isNull(experiments.stopped_on)).limit(1);
        this.experiment = running === undefined ? null : { id: running.id, bytes: uuidToBytes(running.id) };
        break;
      }
    }
    this.log.debug({ part }, 'catalog reloaded');
    this.changed(part);
  }

  /** Tells the listeners a part changed (to drop what the change no longer allows). */
  private changed(part: CatalogPart): void {
    for (const listener of this.listeners) listener(part);
  }
}
