/**
 * Subscriptions, resume from `since`, history and the latest values: the ops of PROTOCOL.md §7,
 * fed by the COPY writer's commits.
 */
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.js';
import type { Pool } from '../db/pool.js';
import { mapDbError } from '../db/db-errors.js';
import { HubError, forbidden, invalid, notFound, type ErrorDetail } from '../errors.js';
import type { Catalog } from '../ingest/catalog.js';
import type { CommittedPoints } from '../ingest/copy-writer.js';
import type { ConnectionState, OpContext, OpDef } from '../protocol/ops.js';
import { encodeMessage } from '../protocol/codec.js';
import { Fanout, Subscriber, type Point, type SubscriberTransport } from './fanout.js';
import { CLOSE } from '../close-codes.js';
import { LocalBus, type LiveBus } from './bus.js';
import { TOPICS, TopicFanout, TopicSubscriber, type Topic } from './topics.js';
import { loadLatest, queryBuckets, queryRaw, replaySince } from './history.js';

const SUBSCRIBER = 'live.subscriber';
const DRAIN = 'live.drain';
export const MAX_EVENTS_PER_SUBSCRIBE = 1000;
export const DEFAULT_QUERY_LIMIT = 10_000;
/** The longest a `since` replay may hold its connection while its reader is slow (then 1013). */
export const REPLAY_MAX_MS = 10 * 60_000;
/** `since` replays one caller (user, or API token) may have running at once. */
export const MAX_REPLAYS_PER_CALLER = 2;

export const MAX_QUERY_LIMIT = 100_000;

const Uuid = Type.String({ format: 'uuid' });
/** The latest time a JavaScript Date (and so a point's `ts`) can hold, in epoch ms. */
export const MAX_TS = 8_640_000_000_000_000;
/** Slowest conflation asked for: one push a minute per event (slower is no live view). */
export const MIN_RATE_HZ = 1 / 60;
const Ts = () => Type.Number({ minimum: 0, maximum: MAX_TS });
const TopicList = Type.Array(Type.Union(TOPICS.map((t) => Type.Literal(t))), { maxItems: TOPICS.length * 4 });
const SubscribeSchema = Type.Object(
  {
    events: Type.Optional(Type.Array(Uuid, { minItems: 1, maxItems: MAX_EVENTS_PER_SUBSCRIBE })),
    topics: Type.Optional(TopicList),
    since: Type.Optional(Ts()),
    max_rate_hz: Type.Optional(Type.Number({ minimum: MIN_RATE_HZ, maximum: 1000 })),
  },
  { additionalProperties: false },
);
const UnsubscribeSchema = Type.Object(
  { events: Type.Optional(Type.Array(Uuid, { maxItems: MAX_EVENTS_PER_SUBSCRIBE })), topics: Type.Optional(TopicList) },
  { additionalProperties: false },
);
const TOPIC_SUBSCRIBER = 'live.topics';
const QuerySchema = Type.Object(
  {
    event_public_id: Type.String({ maxLength: 64 }),
    from: Type.Optional(Ts()),
    to: Type.Optional(Ts()),
    bucket_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TS })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_QUERY_LIMIT })),
  },
  { additionalProperties: false },
);
const LatestSchema = Type.Object({ events: Type.Optional(Type.Array(Uuid, { maxItems: 10_000 })) }, { additionalProperties: false });

export interface ReplayOptions {
  /** Connections of its own: a replay holds one while it streams (see `replaySince`). */
  readonly pool: Pool;
  /** Replays running at once, in total (at most the pool's size). */
  readonly maxConcurrent: number;
  /** A reader that takes no bytes for this long ends its replay: its socket closes with 1013. */
  readonly stallMs: number;
}

export class LiveService {
  readonly fanout: Fanout;
  /** Topic pushes: alerts, devices, firmware, log entries. */
  readonly topics: TopicFanout;
  private latest = new Map<string, Point>();
  /** Replays running, per caller, and in total. */
  private readonly replaysByCaller = new Map<string, number>();
  private replaysRunning = 0;
  /** Subscribers of device tokens, re-checked when the channel mappings change. */
  private readonly deviceSubscribers = new Set<Subscriber>();

  constructor(
    private readonly pool: Pool,
    private readonly catalog: Catalog,
    bufferBytes: number,
    private readonly log: Logger,
    private readonly replays: ReplayOptions = { pool, maxConcurrent: 2, stallMs: 30_000 },
    private readonly bus: LiveBus = new LocalBus(),
    /** HUB_PUSH_INTERVAL_MS: the least time between two flushes of live points (see Fanout). */
    pushIntervalMs = 0,
  ) {
    this.fanout = new Fanout(bufferBytes, pushIntervalMs);
    this.topics = new TopicFanout(bufferBytes);
    catalog.onReload((part) => {
      if (part === 'channel_mappings') this.dropUnmappedDeviceEvents();
    });
    bus.onBatch((batch) => {
      // The latest point of an event is the one with the greatest ts, wherever it is in the batch.
      for (const [event, points] of batch.byEvent) {
        let latest = this.latest.get(event);
        for (const point of points) if (latest === undefined || point[0] >= latest[0]) latest = point;
        if (latest !== undefined) this.latest.set(event, latest);
      }
      this.fanout.publish(batch);
    });
  }

  /** Reads the latest point of every event (at start, and after deletes). */
  async reloadLatest(): Promise<void> {
    this.latest = await loadLatest(this.pool);
  }

  /** The COPY writer's hand-off: group by event and put on the bus. Cheap, synchronous. */
  committed(messages: readonly CommittedPoints[], epoch: number): void {
    const byEvent = new Map<string, Point[]>();
    for (const m of messages) {
      for (let i = 0; i < m.count; i++) {
        const event = (m.events[i] as { id: string }).id;
        const point: Point = [m.ts[i] as number, m.values[i] as number];
        const list = byEvent.get(event);
        if (list === undefined) byEvent.set(event, [point]);
        else list.push(point);
      }
    }
    this.bus.publish({ epoch, byEvent });
  }

  /**
   * Points of `events` committed at other hubs were missed and cannot be read back (PROTOCOL.md
   * §15): their subscribers are closed with 1013 and resume with `since`, which reads them from
   * the datapoints themselves.
   */
  missedAcrossHubs(events: readonly string[]): void {
    const subs = new Set<Subscriber>();
    for (const event of events) for (const sub of this.fanout.subscribersOf(event)) subs.add(sub);
    if (subs.size > 0) this.log.warn({ events: events.length, subscribers: subs.size }, 'points missed across hubs cannot be read back; subscribers resume with since');
    for (const sub of subs) sub.transport.close?.(CLOSE.tryAgainLater, 'points were missed across hubs; reconnect with since');
  }

  /** The socket of `connection` drained: conflated points may go now. */
  drained(connection: ConnectionState): void {
    const sub = connection.get(SUBSCRIBER) as Subscriber | undefined;
    if (sub !== undefined) this.fanout.sendConflated(sub);
    const waiters = connection.get(DRAIN) as (() => void)[] | undefined;
    if (waiters !== undefined) for (const resolve of waiters.splice(0)) resolve();
  }

  /** The socket of `connection` closed. */
  closed(connection: ConnectionState): void {
    const sub = connection.get(SUBSCRIBER) as Subscriber | undefined;
    if (sub !== undefined) {
      const events = [...sub.events];
      this.fanout.close(sub);
      this.unwatchIdle(events);
      this.deviceSubscribers.delete(sub);
    }
    const topicSub = connection.get(TOPIC_SUBSCRIBER) as TopicSubscriber | undefined;
    if (topicSub !== undefined) this.topics.close(topicSub);
    this.drained(connection);
  }

  /** A device's mapping was removed: it stops receiving the events it may no longer watch. */
  private dropUnmappedDeviceEvents(): void {
    for (const sub of this.deviceSubscribers) {
      const device = sub.device as string;
      const gone = [...sub.events].filter((event) => !this.catalog.instanceHasEvent(device, event));
      if (gone.length > 0) {
        this.fanout.remove(sub, gone);
        this.unwatchIdle(gone);
      }
    }
  }

  /** Subscribes `sub` and tells the bus of the events this process now watches. */
  private watch(sub: Subscriber, events: readonly string[]): void {
    this.fanout.add(sub, events);
    for (const event of events) if (this.fanout.subscriberCount(event) === 1) this.bus.watch?.(event);
  }

  /** Tells the bus of the events no socket of this process watches any more. */
  private unwatchIdle(events: readonly string[]): void {
    for (const event of events) if (this.fanout.subscriberCount(event) === 0) this.bus.unwatch?.(event);
  }

  ops(allowPersons: (p: Principal) => boolean, allowAll: (p: Principal) => boolean): OpDef[] {
    return [
      { name: 'subscribe', allow: allowAll, schema: SubscribeSchema, handle: (data, ctx) => this.subscribe(data as never, ctx) },
      {
        name: 'unsubscribe',
        allow: allowAll,
        schema: UnsubscribeSchema,
        handle: async (data, ctx) => {
          const events = ((data.events as string[] | undefined) ?? []).map((e) => e.toLowerCase());
          const sub = ctx.connection.get(SUBSCRIBER) as Subscriber | undefined;
          if (sub !== undefined) {
            this.fanout.remove(sub, events);
            this.unwatchIdle(events);
          }
          if (data.topics === undefined) return { unsubscribed: events };
          const topics = [...new Set(data.topics as Topic[])];
          const topicSub = ctx.connection.get(TOPIC_SUBSCRIBER) as TopicSubscriber | undefined;
          if (topicSub !== undefined) this.topics.remove(topicSub, topics);
          return { unsubscribed: events, topics };
        },
      },
      { name: 'datapoints.query', allow: allowPersons, schema: QuerySchema, handle: (data) => this.query(data as never) },
      {
        name: 'datapoints.latest',
        allow: allowPersons,
        schema: LatestSchema,
        handle: async (data) => {
          const wanted = (data.events as string[] | undefined)?.map((e) => e.toLowerCase());
          const items: { event_public_id: string; ts: number; value: number }[] = [];
          for (const event of wanted ?? this.latest.keys()) {
            const point = this.latest.get(event);
            if (point !== undefined) items.push({ event_public_id: event, ts: point[0], value: point[1] });
          }
          return { items };
        },
      },
    ];
  }

  private async subscribe(data: { events?: string[]; topics?: Topic[]; since?: number; max_rate_hz?: number }, ctx: OpContext): Promise<unknown> {
    if (data.events === undefined && data.topics === undefined) {
      throw invalid([{ path: '', message: 'must name events, topics or both' }]);
    }
    const topics = data.topics === undefined ? undefined : [...new Set(data.topics)];
    if (topics !== undefined && ctx.principal.role === 'device') throw forbidden('Devices cannot subscribe to topics');
    const subscribed: { subscribed: string[]; topics?: Topic[] } =
      data.events === undefined ? { subscribed: [] } : await this.subscribeEvents({ ...data, events: data.events }, ctx);
    if (topics !== undefined) {
      let topicSub = ctx.connection.get(TOPIC_SUBSCRIBER) as TopicSubscriber | undefined;
      if (topicSub === undefined) {
        if (ctx.transport === undefined) throw new HubError('internal', 'No push channel on this connection');
        topicSub = new TopicSubscriber(ctx.transport);
        ctx.connection.set(TOPIC_SUBSCRIBER, topicSub);
      } else if (ctx.transport !== undefined) topicSub.transport = ctx.transport;
      this.topics.add(topicSub, topics);
      subscribed.topics = topics;
    }
    return subscribed;
  }

  private async subscribeEvents(data: { events: string[]; since?: number; max_rate_hz?: number }, ctx: OpContext): Promise<{ subscribed: string[] }> {
    const events = [...new Set(data.events.map((e) => e.toLowerCase()))];
    const details: ErrorDetail[] = [];
    for (const [i, event] of events.entries()) {
      if (this.catalog.event(event) === undefined) details.push({ path: `/events/${i}`, message: `Event '${event}' not found` });
    }
    if (details.length > 0) {
      // The catalog may be behind a just-created event.
      await this.catalog.reload('events');
      details.length = 0;
      for (const [i, event] of events.entries()) {
        if (this.catalog.event(event) === undefined) details.push({ path: `/events/${i}`, message: `Event '${event}' not found` });
      }
      if (details.length > 0) throw invalid(details);
    }
    const device = ctx.principal.pluginInstancePublicId;
    if (device !== null) {
      const foreign = events.filter((e) => !this.catalog.instanceHasEvent(device, e));
      if (foreign.length > 0) throw forbidden(`A device may subscribe only to its mapped events (not ${foreign[0]})`);
    }
    // A replay holds a connection of its own while the socket takes the points: bounded per
    // caller and in total, and refused at once (never queued) beyond that.
    const caller = ctx.principal.kind === 'login' ? `user|${ctx.principal.user.public_id}` : `token|${ctx.principal.tokenId}`;
    const existing = ctx.connection.get(SUBSCRIBER) as Subscriber | undefined;
    // One replay at a time per socket: the points held for the live hand-over belong to one
    // snapshot (two at once could send a point twice or out of order).
    if (data.since !== undefined && existing?.replaying !== null && existing?.replaying !== undefined) {
      throw new HubError('rate_limited', 'A replay (subscribe with since) is already running on this socket; send this one when it ends', {
        retryAfterMs: 500,
      });
    }
    if (data.since !== undefined) this.claimReplay(caller);
    const sub = this.subscriberOf(ctx);
    if (ctx.transport !== undefined) sub.transport = ctx.transport;
    sub.maxRateHz = data.max_rate_hz ?? null;
    if (device !== null) {
      sub.device = device;
      this.deviceSubscribers.add(sub);
    }
    if (data.since !== undefined) {
      // Live points of these events are held from now on; the replay starts once the reply is out.
      sub.replaying ??= new Map();
      for (const event of events) if (!sub.replaying.has(event)) sub.replaying.set(event, { points: [], overflow: null });
      this.watch(sub, events);
      setImmediate(() => {
        // Across hubs: the bus's subscriptions are in effect before the replay's snapshot, so
        // every batch committed after the snapshot reaches the held points.
        void Promise.resolve(this.bus.settled?.())
          .then(() => this.replay(sub, ctx.connection, events, data.since as number))
          .finally(() => this.releaseReplay(caller));
      });
    } else {
      this.watch(sub, events);
    }
    return { subscribed: events };
  }

  /** Takes a replay slot for `caller`, or refuses: 429 past the caller's share, 503 when all are taken. */
  private claimReplay(caller: string): void {
    const mine = this.replaysByCaller.get(caller) ?? 0;
    if (mine >= MAX_REPLAYS_PER_CALLER) {
      throw new HubError('rate_limited', `At most ${MAX_REPLAYS_PER_CALLER} replays (subscribe with since) may run at once per caller`, {
        retryAfterMs: 1000,
      });
    }
    if (this.replaysRunning >= this.replays.maxConcurrent) {
      throw new HubError('busy', 'Every replay slot is taken; retry later', { retryAfterMs: 1000 });
    }
    this.replaysByCaller.set(caller, mine + 1);
    this.replaysRunning++;
  }

  private releaseReplay(caller: string): void {
    this.replaysRunning--;
    const left = (this.replaysByCaller.get(caller) ?? 1) - 1;
    if (left <= 0) this.replaysByCaller.delete(caller);
    else this.replaysByCaller.set(caller, left);
  }

  private async replay(sub: Subscriber, connection: ConnectionState, events: string[], since: number): Promise<void> {
    const replayEnds = Date.now() + REPLAY_MAX_MS;
    try {
      const epoch = await replaySince(this.replays.pool, events, since, async (rows) => {
        if (sub.closed) throw new Error('subscriber gone');
        const byEvent = new Map<string, Point[]>();
        for (const r of rows) {
          const list = byEvent.get(r.event);
          if (list === undefined) byEvent.set(r.event, [[r.ts, r.value]]);
          else list.push([r.ts, r.value]);
        }
        for (const [event, points] of byEvent) sub.transport.send(encodeMessage({ op: 'readings', data: { event, points } }, sub.transport.encoding));
        // A slow socket: wait for it to drain before reading the next chunk, but not forever:
        // the replay holds a database connection meanwhile.
        // A reader that takes a little now and then must not hold it for hours either: a replay
        // lasts at most REPLAY_MAX_MS, then the socket resumes with `since` on a new connection.
        const deadline = Math.min(Date.now() + this.replays.stallMs, replayEnds);
        while (!sub.closed && sub.transport.bufferedAmount() > this.fanout.bufferBytes) {
          if (Date.now() >= deadline) throw new ReplayStalled();
          await this.waitDrain(connection);
        }
      });
      this.fanout.endReplay(sub, epoch);
    } catch (err) {
      if (sub.closed) return;
      if (err instanceof ReplayStalled) {
        // It would miss points if the replay just stopped: it reconnects and resumes with `since`.
        this.log.info({ stallMs: this.replays.stallMs }, 'replay reader stalled; closing its socket with 1013');
        sub.replaying = null;
        sub.transport.close?.(CLOSE.tryAgainLater, 'too slow for the replay; reconnect with since');
        return;
      }
      this.log.warn({ err }, 'replay failed');
      sub.replaying = null;
      const error = err instanceof HubError ? err : mapDbError(err, 'Datapoint');
      sub.transport.send(encodeMessage({ id: null, ok: false, error: error.toWire() }, sub.transport.encoding));
    }
  }

  private waitDrain(connection: ConnectionState): Promise<void> {
    return new Promise((resolve) => {
      let waiters = connection.get(DRAIN) as (() => void)[] | undefined;
      if (waiters === undefined) {
        waiters = [];
        connection.set(DRAIN, waiters);
      }
      waiters.push(resolve);
      // uWS reports drain; a timer keeps a missed one from stalling the replay.
      setTimeout(resolve, 250).unref();
    });
  }

  private subscriberOf(ctx: OpContext): Subscriber {
    let sub = ctx.connection.get(SUBSCRIBER) as Subscriber | undefined;
    if (sub === undefined) {
      const transport: SubscriberTransport | undefined = ctx.transport;
      if (transport === undefined) throw new HubError('internal', 'No push channel on this connection');
      sub = new Subscriber(transport);
      ctx.connection.set(SUBSCRIBER, sub);
    }
    return sub;
  }

  private async query(data: { event_public_id: string; from?: number; to?: number; bucket_ms?: number; limit?: number }) {
    const event = data.event_public_id.toLowerCase();
    if (this.catalog.event(event) === undefined) {
      await this.catalog.reload('events');
      if (this.catalog.event(event) === undefined) throw notFound('Event', data.event_public_id.slice(0, 64));
    }
    const range = { event, from: data.from, to: data.to, limit: data.limit ?? DEFAULT_QUERY_LIMIT };
    try {
      if (data.bucket_ms !== undefined) return { buckets: await queryBuckets(this.pool, { ...range, bucketMs: data.bucket_ms }) };
      return { points: await queryRaw(this.pool, range) };
    } catch (err) {
      throw mapDbError(err, 'Datapoint');
    }
  }
}

/** A replay's reader took nothing for too long. */
class ReplayStalled extends Error {
  constructor() {
    super('replay reader stalled');
    this.name = 'ReplayStalled';
  }
}
