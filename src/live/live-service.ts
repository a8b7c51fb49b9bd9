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
import { LocalBus, type LiveBus } from './bus.js';
import { loadLatest, queryBuckets, queryRaw, replaySince } from './history.js';

const SUBSCRIBER = 'live.subscriber';
const DRAIN = 'live.drain';
export const MAX_EVENTS_PER_SUBSCRIBE = 1000;
export const DEFAULT_QUERY_LIMIT = 10_000;
export const MAX_QUERY_LIMIT = 100_000;

const Uuid = Type.String({ format: 'uuid' });
const SubscribeSchema = Type.Object(
  {
    events: Type.Array(Uuid, { minItems: 1, maxItems: MAX_EVENTS_PER_SUBSCRIBE }),
    since: Type.Optional(Type.Number({ minimum: 0 })),
    max_rate_hz: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1000 })),
  },
  { additionalProperties: false },
);
const UnsubscribeSchema = Type.Object({ events: Type.Array(Uuid, { maxItems: MAX_EVENTS_PER_SUBSCRIBE }) }, { additionalProperties: false });
const QuerySchema = Type.Object(
  {
    event_public_id: Type.String({ maxLength: 64 }),
    from: Type.Optional(Type.Number({ minimum: 0 })),
    to: Type.Optional(Type.Number({ minimum: 0 })),
    bucket_ms: Type.Optional(Type.Integer({ minimum: 1 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_QUERY_LIMIT })),
  },
  { additionalProperties: false },
);
const LatestSchema = Type.Object({ events: Type.Optional(Type.Array(Uuid, { maxItems: 10_000 })) }, { additionalProperties: false });

export class LiveService {
  readonly fanout: Fanout;
  private latest = new Map<string, Point>();

  constructor(
    private readonly pool: Pool,
    private readonly catalog: Catalog,
    bufferBytes: number,
    private readonly log: Logger,
    private readonly bus: LiveBus = new LocalBus(),
  ) {
    this.fanout = new Fanout(bufferBytes);
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
    if (sub !== undefined) this.fanout.close(sub);
    this.drained(connection);
  }

  ops(allowPersons: (p: Principal) => boolean, allowAll: (p: Principal) => boolean): OpDef[] {
    return [
      { name: 'subscribe', allow: allowAll, schema: SubscribeSchema, handle: (data, ctx) => this.subscribe(data as never, ctx) },
      {
        name: 'unsubscribe',
        allow: allowAll,
        schema: UnsubscribeSchema,
        handle: async (data, ctx) => {
          const events = (data.events as string[]).map((e) => e.toLowerCase());
          const sub = ctx.connection.get(SUBSCRIBER) as Subscriber | undefined;
          if (sub !== undefined) this.fanout.remove(sub, events);
          return { unsubscribed: events };
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

  private async subscribe(data: { events: string[]; since?: number; max_rate_hz?: number }, ctx: OpContext): Promise<unknown> {
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
    const sub = this.subscriberOf(ctx);
    if (ctx.transport !== undefined) sub.transport = ctx.transport;
    sub.maxRateHz = data.max_rate_hz ?? null;
    if (data.since !== undefined) {
      // Live points of these events are held from now on; the replay starts once the reply is out.
      sub.replaying ??= new Map();
      for (const event of events) if (!sub.replaying.has(event)) sub.replaying.set(event, { points: [], overflow: null });
      this.fanout.add(sub, events);
      setImmediate(() => void this.replay(sub, ctx.connection, events, data.since as number));
    } else {
      this.fanout.add(sub, events);
    }
    return { subscribed: events };
  }

  private async replay(sub: Subscriber, connection: ConnectionState, events: string[], since: number): Promise<void> {
    try {
      const epoch = await replaySince(this.pool, events, since, async (rows) => {
        if (sub.closed) throw new Error('subscriber gone');
        const byEvent = new Map<string, Point[]>();
        for (const r of rows) {
          const list = byEvent.get(r.event);
          if (list === undefined) byEvent.set(r.event, [[r.ts, r.value]]);
          else list.push([r.ts, r.value]);
        }
        for (const [event, points] of byEvent) sub.transport.send(encodeMessage({ op: 'readings', data: { event, points } }, sub.transport.encoding));
        // A slow socket: wait for it to drain before reading the next chunk.
        while (!sub.closed && sub.transport.bufferedAmount() > this.fanout.bufferBytes) await this.waitDrain(connection);
      });
      this.fanout.endReplay(sub, epoch);
    } catch (err) {
      if (sub.closed) return;
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
