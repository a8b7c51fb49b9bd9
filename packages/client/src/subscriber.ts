/**
 * The dashboard side: live readings per event that survive reconnects without a gap or a
 * duplicate, and topic pushes (alerts, devices, firmware, log entries) that come back after a
 * reconnect. After each reconnect every event is subscribed again with `since` = the newest `ts`
 * seen for it (or the subscription's own start when none was seen yet): the hub replays what was
 * committed meanwhile, then goes on live. @see PROTOCOL.md §7, §14
 */
import type { Connection, Push } from './connection.js';
import { ClosedError, HubRequestError } from './errors.js';
import type { OpRequests, PushData } from './ops.js';

export type Topic = 'alerts' | 'devices' | 'firmware' | 'log_entries';
/** `[ts, value]` pairs in commit order. */
export type Points = [number, number][];

export interface ReadingsInfo {
  /** Only the latest points of this event were sent: the subscriber was slow or asked for a rate. */
  conflated: boolean;
}

export type ReadingsHandler = (event: string, points: Points, info: ReadingsInfo) => void;
export type TopicHandler = (push: Push) => void;

export interface SubscribeOptions {
  /** Replay stored points with `ts > since` first (epoch ms). Default: from now on. */
  since?: number;
  /** Ask the hub to conflate to at most this many pushes a second per event. */
  maxRateHz?: number;
}

export interface Subscription {
  /** Stops these handlers; events nobody else watches are unsubscribed at the hub. */
  unsubscribe(): Promise<void>;
}

interface EventEntry {
  handlers: Set<ReadingsHandler>;
  /** Newest ts delivered; the resume point. */
  lastTs: number | undefined;
  /** Resume point when nothing was seen yet. */
  floor: number | undefined;
  maxRateHz: number | undefined;
  /** The socket generation it was last subscribed on. */
  gen: number;
}

const TOPIC_OF_PUSH: Record<string, Topic> = { alert: 'alerts', device: 'devices', firmware: 'firmware', log_entry: 'log_entries' };

export class Subscriber {
  private readonly events = new Map<string, EventEntry>();
  private readonly topics = new Map<Topic, { handlers: Set<TopicHandler>; gen: number }>();
  private gen = 0;
  private readonly errorHandlers = new Set<(err: Error) => void>();
  /** Subscribe requests go one at a time: the hub runs one `since` replay per socket. */
  private serial: Promise<unknown> = Promise.resolve();
  private readonly off: (() => void)[];

  constructor(private readonly connection: Connection) {
    if (connection.isOpen) this.gen = 1;
    this.off = [
      connection.on('open', () => {
        this.gen++;
        void this.resubscribe();
      }),
      connection.on('push', (push) => this.receive(push)),
    ];
  }

  /**
   * Calls `onPoints` with every committed point of `events`, across reconnects. Resolves once
   * the hub has accepted the subscription (or at once while disconnected: it is made on open).
   */
  async subscribe(events: readonly string[], onPoints: ReadingsHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    const fresh: string[] = [];
    for (const event of events) {
      let entry = this.events.get(event);
      if (entry === undefined) {
        entry = { handlers: new Set(), lastTs: undefined, floor: options.since ?? Date.now(), maxRateHz: options.maxRateHz, gen: -1 };
        this.events.set(event, entry);
        fresh.push(event);
      }
      entry.handlers.add(onPoints);
    }
    if (fresh.length > 0 && this.connection.isOpen) {
      for (const event of fresh) (this.events.get(event) as EventEntry).gen = this.gen;
      await this.made(
        this.send({
          events: fresh,
          ...(options.since === undefined ? {} : { since: options.since }),
          ...(options.maxRateHz === undefined ? {} : { max_rate_hz: options.maxRateHz }),
        }, true),
        () => {
          for (const event of fresh) this.events.delete(event);
        },
      );
    }
    return {
      unsubscribe: async () => {
        const gone: string[] = [];
        for (const event of events) {
          const entry = this.events.get(event);
          if (entry === undefined || !entry.handlers.delete(onPoints) || entry.handlers.size > 0) continue;
          this.events.delete(event);
          gone.push(event);
        }
        if (gone.length > 0 && this.connection.isOpen) await this.connection.call('unsubscribe', { events: gone });
      },
    };
  }

  /** Calls `onPush` with every push of `topics` (`alert`, `device`, `firmware`, `log_entry`), across reconnects. */
  async subscribeTopics(topics: readonly Topic[], onPush: TopicHandler): Promise<Subscription> {
    const fresh: Topic[] = [];
    for (const topic of topics) {
      let entry = this.topics.get(topic);
      if (entry === undefined) {
        entry = { handlers: new Set(), gen: -1 };
        this.topics.set(topic, entry);
        fresh.push(topic);
      }
      entry.handlers.add(onPush);
    }
    if (fresh.length > 0 && this.connection.isOpen) {
      for (const topic of fresh) (this.topics.get(topic) as { gen: number }).gen = this.gen;
      await this.made(this.send({ topics: fresh }, true), () => {
        for (const topic of fresh) this.topics.delete(topic);
      });
    }
    return {
      unsubscribe: async () => {
        const gone: Topic[] = [];
        for (const topic of topics) {
          const entry = this.topics.get(topic);
          if (entry === undefined || !entry.handlers.delete(onPush) || entry.handlers.size > 0) continue;
          this.topics.delete(topic);
          gone.push(topic);
        }
        if (gone.length > 0 && this.connection.isOpen) await this.connection.call('unsubscribe', { topics: gone });
      },
    };
  }

  /** The newest `ts` delivered for `event` (where a resume starts). */
  lastTs(event: string): number | undefined {
    return this.events.get(event)?.lastTs;
  }

  /** Failures to subscribe again after a reconnect (e.g. an event deleted meanwhile). */
  onError(handler: (err: Error) => void): () => void {
    this.errorHandlers.add(handler);
    return () => this.errorHandlers.delete(handler);
  }

  /** Stops listening (the connection stays open: it is the caller's). */
  close(): void {
    for (const off of this.off) off();
  }

  /** Awaits a subscribe; a drop meanwhile is fine (the next open subscribes again), a refusal undoes it. */
  private async made(request: Promise<unknown>, undo: () => void): Promise<void> {
    try {
      await request;
    } catch (err) {
      if (err instanceof ClosedError && this.connection.state !== 'closed') return;
      undo();
      throw err;
    }
  }

  private async resubscribe(): Promise<void> {
    const gen = this.gen;
    // One request per resume point: `since` is per request, and each event resumes from its own.
    const groups = new Map<string, { since: number | undefined; maxRateHz: number | undefined; events: string[] }>();
    for (const [event, entry] of this.events) {
      if (entry.gen === gen) continue;
      entry.gen = gen;
      const since = entry.lastTs ?? entry.floor;
      const key = `${since}:${entry.maxRateHz}`;
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = { since, maxRateHz: entry.maxRateHz, events: [] }));
      group.events.push(event);
    }
    const topics: Topic[] = [];
    for (const [topic, entry] of this.topics) {
      if (entry.gen === gen) continue;
      entry.gen = gen;
      topics.push(topic);
    }
    const requests: Promise<unknown>[] = [];
    for (const group of groups.values()) {
      for (let i = 0; i < group.events.length; i += 1000) {
        requests.push(
          this.send(
            {
              events: group.events.slice(i, i + 1000),
              ...(group.since === undefined ? {} : { since: group.since }),
              ...(group.maxRateHz === undefined ? {} : { max_rate_hz: group.maxRateHz }),
            },
            false,
          ),
        );
      }
    }
    if (topics.length > 0) requests.push(this.send({ topics }, false));
    for (const result of await Promise.allSettled(requests)) {
      // A drop during the resume is followed by another open, which subscribes again.
      if (result.status === 'rejected' && !(result.reason instanceof ClosedError)) {
        for (const handler of this.errorHandlers) handler(result.reason as Error);
      }
    }
  }

  /** Queues one subscribe request behind the others (see {@link serial}). */
  private send(data: OpRequests['subscribe'], waitForOpen: boolean): Promise<unknown> {
    const gen = this.gen;
    const run = async (): Promise<unknown> => {
      // Subscribed on a socket that has since dropped: the next open's resubscribe covers it.
      if (gen !== this.gen) throw new ClosedError('the socket was replaced before this subscribe was sent');
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.connection.call('subscribe', data, { waitForOpen });
        } catch (err) {
          // Another replay still running on this socket (e.g. the caller's own): wait, retry.
          if (!(err instanceof HubRequestError) || err.status !== 429 || attempt >= 50) throw err;
          await new Promise((r) => setTimeout(r, err.retryAfterMs ?? 100));
        }
      }
    };
    const result = this.serial.then(run, run);
    this.serial = result.catch(() => undefined);
    return result;
  }

  private receive(push: Push): void {
    if (push.op === 'readings') {
      const data = push.data as PushData['readings'];
      const entry = this.events.get(data.event);
      if (entry === undefined || data.points.length === 0) return;
      let newest = entry.lastTs ?? Number.NEGATIVE_INFINITY;
      for (const [ts] of data.points) if (ts > newest) newest = ts;
      entry.lastTs = newest;
      const info = { conflated: data.conflated === true };
      for (const handler of entry.handlers) handler(data.event, data.points, info);
      return;
    }
    const topic = TOPIC_OF_PUSH[push.op];
    if (topic === undefined) return;
    const entry = this.topics.get(topic);
    if (entry !== undefined) for (const handler of entry.handlers) handler(push);
  }
}
