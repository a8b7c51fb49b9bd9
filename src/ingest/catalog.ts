/**
 * What ingest validates against, in memory: the events, each plugin instance's channel
 * mappings, and the running experiment. Loaded at start; reloaded part by part when the hub
 * changes those tables (awaited before the change is acknowledged, so no permission outlives its
 * delete) and when PostgreSQL notifies a change from elsewhere (hub_catalog, see migrations).
 */
import { isNull } from 'drizzle-orm';
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
  readonly events: Set<string>;
}

export type CatalogPart = 'events' | 'channel_mappings' | 'experiments';

export class Catalog {
  private events = new Map<string, EventRef>();
  private instances = new Map<string, InstanceChannels>();
  private experiment: EventRef | null = null;
  private readonly reloading = new Map<CatalogPart, Promise<void>>();
  private readonly again = new Set<CatalogPart>();
  private readonly listeners: ((part: CatalogPart) => void)[] = [];

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  async load(): Promise<void> {
    await Promise.all([this.reload('events'), this.reload('channel_mappings'), this.reload('experiments')]);
  }

  /**
   * Reloads one part. Calls during a reload are coalesced into one more reload after it, so
   * the result always reflects every change committed before the call.
   */
  reload(part: CatalogPart): Promise<void> {
    const running = this.reloading.get(part);
    if (running !== undefined) {
      // The running reload loops once more, so awaiting it covers this call's changes too.
      this.again.add(part);
      return running;
    }
    const run = (async () => {
      try {
        do {
          this.again.delete(part);
          await this.fetch(part);
        } while (this.again.has(part));
      } finally {
        this.reloading.delete(part);
      }
    })();
    this.reloading.set(part, run);
    return run;
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
          const ref = row.event === null ? null : { id: row.event, bytes: uuidToBytes(row.event) };
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
    for (const listener of this.listeners) listener(part);
  }
}
