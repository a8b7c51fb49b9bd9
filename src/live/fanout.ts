/**
 * Live fan-out: committed points go to the subscribers of their event, batched per event over
 * one event-loop turn (a commit's points leave together, within milliseconds), each push encoded
 * once per encoding, not once per subscriber.
 *
 * A subscriber that reads slower than points arrive never grows the hub's memory without bound
 * and never slows anyone else: past `bufferBytes` unsent bytes on its socket it gets no more
 * pushes, only the latest point per event is kept for it, and those are sent, marked
 * `conflated`, when its socket drains. `max_rate_hz` asks for the same on purpose.
 * @see PROTOCOL.md §7
 */
import type { Encoding } from '../protocol/codec.js';
import { encodeMessage } from '../protocol/codec.js';

/** A point as pushed: `[ts, value]`. */
export type Point = [number, number];

/** What a subscriber's socket offers the live layer (no uWS here). */
export interface SubscriberTransport {
  readonly encoding: Encoding;
  /** Sends one frame; false if the socket is gone. */
  send(frame: string | Uint8Array): boolean;
  /** Bytes written but not yet sent. */
  bufferedAmount(): number;
  /** Closes the socket (a subscriber too slow for what it asked for). */
  close?(code: number, reason: string): void;
}

/** Points of one commit batch, by event. */
export interface LiveBatch {
  /** The commit's epoch (see ingest_epoch): orders commits against a replay's snapshot. */
  readonly epoch: number;
  readonly byEvent: ReadonlyMap<string, Point[]>;
}

/** Most points a subscriber keeps per event while its replay runs; past it, only the latest. */
const REPLAY_BUFFER_POINTS = 50_000;

export class Subscriber {
  readonly events = new Set<string>();
  maxRateHz: number | null = null;
  /** Latest point per event not yet sent (slow socket or rate limit). */
  readonly conflated = new Map<string, Point>();
  readonly lastSent = new Map<string, number>();
  /** While a `since` replay runs: live points held per event, with their commit epoch. */
  replaying: Map<string, { points: [number, number, number][]; overflow: Point | null }> | null = null;
  rateTimer: NodeJS.Timeout | undefined;
  closed = false;
  /** A device's plugin instance: it may watch only the events mapped to it. */
  device: string | null = null;
  /**
   * Per event, the snapshot epoch of its last replay: a batch of that epoch or older is in the
   * replay already, however late it arrives (a batch from another hub comes over NATS).
   */
  readonly floor = new Map<string, number>();
  /**
   * Epochs of the held batches a finished replay has just sent, per event: the same batches may
   * still wait in the fan-out's pending flush (published during the replay, flushed after it
   * ended), and must not go out a second time.
   */
  readonly handedOver = new Map<string, Set<number>>();

  /** Replaced by each `subscribe`: pushes use the encoding of the latest subscribe request. */
  constructor(public transport: SubscriberTransport) {}
}

export class Fanout {
  private readonly byEvent = new Map<string, Set<Subscriber>>();
  /** Points to push at the next flush, per event, with their commit epochs. */
  private pending = new Map<string, { epoch: number; points: Point[] }[]>();
  private scheduled = false;
  /** performance.now() of the last flush. */
  private lastFlush = Number.NEGATIVE_INFINITY;
  /** Pushes sent, conflated pushes sent, points dropped by conflation (for metrics). */
  readonly stats = { pushes: 0, conflatedPushes: 0, conflatedPoints: 0, flushes: 0 };

  /**
   * @param bufferBytes unsent bytes past which a subscriber's points are conflated
   * @param intervalMs flushes are at least this far apart (HUB_PUSH_INTERVAL_MS): a commit after a
   *   quiet spell leaves at once (the end of its event-loop turn); commits that follow each other
   *   closely share a flush, so a subscriber gets one push with all of them rather than one push,
   *   one frame and one syscall per commit. Each push is one send per subscriber, the cost that
   *   dominates fan-out; the price is at most `intervalMs` of latency, and only under load.
   */
  constructor(
    readonly bufferBytes: number,
    readonly intervalMs = 0,
  ) {}

  /** Subscribes to events (idempotent). */
  add(sub: Subscriber, events: readonly string[]): void {
    for (const event of events) {
      sub.events.add(event);
      let set = this.byEvent.get(event);
      if (set === undefined) {
        set = new Set();
        this.byEvent.set(event, set);
      }
      set.add(sub);
    }
  }

  remove(sub: Subscriber, events: Iterable<string>): void {
    for (const event of [...events]) {
      sub.events.delete(event);
      sub.conflated.delete(event);
      sub.lastSent.delete(event);
      sub.floor.delete(event);
      const set = this.byEvent.get(event);
      set?.delete(sub);
      if (set?.size === 0) this.byEvent.delete(event);
    }
  }

  /** The socket closed: forget the subscriber. */
  close(sub: Subscriber): void {
    sub.closed = true;
    clearTimeout(sub.rateTimer);
    this.remove(sub, sub.events);
  }

  /** Subscriptions (socket × event) open now. */
  get subscriptions(): number {
    let n = 0;
    for (const set of this.byEvent.values()) n += set.size;
    return n;
  }

  /** The subscribers of `event` now. */
  subscribersOf(event: string): Subscriber[] {
    return [...(this.byEvent.get(event) ?? [])];
  }

  subscriberCount(event: string): number {
    return this.byEvent.get(event)?.size ?? 0;
  }

  /** Committed points arrive here; they leave at the end of this event-loop turn. */
  publish(batch: LiveBatch): void {
    for (const [event, points] of batch.byEvent) {
      const subs = this.byEvent.get(event);
      if (subs === undefined) continue;
      // A subscriber in a replay holds them now, with this commit's own epoch.
      for (const sub of subs) {
        const held = sub.replaying?.get(event);
        if (held !== undefined) this.hold(held, points, batch.epoch);
      }
      const list = this.pending.get(event);
      const chunk = { epoch: batch.epoch, points: points.slice() };
      if (list === undefined) this.pending.set(event, [chunk]);
      else list.push(chunk);
    }
    if (!this.scheduled && this.pending.size > 0) {
      this.scheduled = true;
      const wait = this.lastFlush + this.intervalMs - performance.now();
      if (wait <= 0) setImmediate(() => this.flush());
      else setTimeout(() => this.flush(), wait);
    }
  }

  private flush(): void {
    this.scheduled = false;
    this.lastFlush = performance.now();
    this.stats.flushes++;
    const pending = this.pending;
    this.pending = new Map();
    const now = Date.now();
    for (const [event, chunks] of pending) {
      const subs = this.byEvent.get(event);
      if (subs === undefined) continue;
      const all = chunks.length === 1 ? (chunks[0] as { points: Point[] }).points : chunks.flatMap((c) => c.points);
      const frames: Partial<Record<Encoding, string | Uint8Array>> = {};
      // The loop below runs once per subscriber and push: the hub's hottest code after COPY. The
      // common subscriber (no replay ever, no rate limit, nothing conflated) costs a few field
      // reads, one native call for its unsent bytes and the send.
      for (const sub of subs) {
        // Held at publish time (or committed before its replay's snapshot: the replay has them).
        if (sub.replaying !== null && sub.replaying.has(event)) continue;
        const points = sub.floor.size === 0 && sub.handedOver.size === 0 ? all : this.notYetSent(sub, event, chunks, all);
        if (points.length === 0) continue;
        if ((sub.maxRateHz !== null && this.rateLimited(sub, event, now)) || sub.transport.bufferedAmount() > this.bufferBytes) {
          sub.conflated.set(event, points[points.length - 1] as Point);
          this.stats.conflatedPoints += points.length;
          if (sub.maxRateHz !== null) this.armRateTimer(sub);
          continue;
        }
        // Newer points supersede a conflated one still waiting.
        if (sub.conflated.size > 0) sub.conflated.delete(event);
        if (points === all) {
          frames[sub.transport.encoding] ??= encodeMessage({ op: 'readings', data: { event, points } }, sub.transport.encoding);
          sub.transport.send(frames[sub.transport.encoding] as string | Uint8Array);
        } else sub.transport.send(encodeMessage({ op: 'readings', data: { event, points } }, sub.transport.encoding));
        // Only a rate limit reads when an event was last sent.
        if (sub.maxRateHz !== null) sub.lastSent.set(event, now);
        this.stats.pushes++;
      }
    }
  }

  /**
   * The points of this flush a subscriber that has had a `since` replay still needs. Rare: a late
   * batch its replay held already, or one its replay's end just sent; it gets only the others.
   */
  private notYetSent(sub: Subscriber, event: string, chunks: readonly { epoch: number; points: Point[] }[], all: Point[]): Point[] {
    const floor = sub.floor.get(event);
    const handed = sub.handedOver.get(event);
    if (handed !== undefined) sub.handedOver.delete(event);
    const skip = (c: { epoch: number }): boolean => (floor !== undefined && c.epoch <= floor) || (handed !== undefined && handed.has(c.epoch));
    return chunks.some(skip) ? chunks.filter((c) => !skip(c)).flatMap((c) => c.points) : all;
  }

  private hold(held: { points: [number, number, number][]; overflow: Point | null }, points: Point[], epoch: number): void {
    for (const [ts, value] of points) {
      if (held.points.length < REPLAY_BUFFER_POINTS) held.points.push([ts, value, epoch]);
      else held.overflow = [ts, value];
    }
  }

  private rateLimited(sub: Subscriber, event: string, now: number): boolean {
    if (sub.maxRateHz === null) return false;
    const last = sub.lastSent.get(event);
    return last !== undefined && now - last < 1000 / sub.maxRateHz;
  }

  private armRateTimer(sub: Subscriber): void {
    if (sub.rateTimer !== undefined || sub.maxRateHz === null) return;
    sub.rateTimer = setTimeout(() => {
      sub.rateTimer = undefined;
      this.sendConflated(sub);
    }, Math.ceil(1000 / sub.maxRateHz));
  }

  /** The socket drained (or a rate period passed): send what was conflated, if it can take it. */
  sendConflated(sub: Subscriber): void {
    if (sub.closed || sub.conflated.size === 0) return;
    const now = Date.now();
    for (const [event, point] of [...sub.conflated]) {
      if (sub.transport.bufferedAmount() > this.bufferBytes) return;
      if (this.rateLimited(sub, event, now)) {
        this.armRateTimer(sub);
        continue;
      }
      sub.conflated.delete(event);
      sub.transport.send(encodeMessage({ op: 'readings', data: { event, points: [point], conflated: true } }, sub.transport.encoding));
      sub.lastSent.set(event, now);
      this.stats.conflatedPushes++;
    }
  }

  /**
   * A replay finished: sends the live points held meanwhile that the replay did not contain
   * (those of commits after its snapshot), then lets live points flow.
   */
  endReplay(sub: Subscriber, snapshotEpoch: number): void {
    const held = sub.replaying;
    sub.replaying = null;
    if (held === undefined || held === null || sub.closed) return;
    for (const [event, { points, overflow }] of held) {
      sub.floor.set(event, snapshotEpoch);
      const kept = points.filter(([, , epoch]) => epoch > snapshotEpoch);
      sub.handedOver.set(event, new Set(kept.map(([, , epoch]) => epoch)));
      const fresh: Point[] = kept.map(([ts, value]) => [ts, value]);
      if (fresh.length > 0) {
        sub.transport.send(encodeMessage({ op: 'readings', data: { event, points: fresh } }, sub.transport.encoding));
        this.stats.pushes++;
      }
      if (overflow !== null) sub.conflated.set(event, overflow);
    }
    this.sendConflated(sub);
  }
}
