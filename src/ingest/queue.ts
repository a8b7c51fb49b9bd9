/**
 * The bounded ingest queue. Its bound counts points, queued and being written: a message that
 * does not fit is refused whole (`503 busy`), so the hub's memory stays bounded however many
 * devices push however fast.
 *
 * Fairness: messages wait in one lane per sender (an API token; a user for login tokens). A
 * sender may hold at most `senderPoints` of the bound and `senderMessages` messages, so a runaway
 * device is refused alone while the others keep being accepted; and the writer takes from the
 * lanes in turn, each lane at most its part of a batch, so a small message never waits behind a
 * flood's backlog. What a lane holds is given back only by {@link IngestQueue.release}, the one
 * place every message ends (committed, duplicate or refused): the accounting cannot drift.
 * @see PROTOCOL.md §6
 */
import type { HubError } from '../errors.js';
import type { IngestPoints } from './validate.js';

/** The reply to an accepted ingest. */
export interface IngestAck {
  accepted: number;
  seq: number | null;
  duplicate?: true;
}

/** Whose `seq` a message carries: per API token, or per user for login tokens. */
export interface SeqOwner {
  readonly key: string;
  readonly apiTokenPublicId: string | null;
  readonly userPublicId: string | null;
}

/** One message waiting for its commit. */
export interface PendingIngest {
  readonly points: IngestPoints;
  /** Null once the owner is gone (token deleted while queued): stored without a seq record. */
  owner: SeqOwner | null;
  /** Whose share of the queue it uses (the seq owner's key; it stays when `owner` is cleared). */
  readonly sender?: string;
  /** A device's plugin instance, for re-checking its permissions if the catalog changed. */
  readonly pluginInstancePublicId: string | null;
  readonly resolve: (ack: IngestAck) => void;
  readonly reject: (error: HubError) => void;
  /** Set once answered (committed, duplicate or refused): never written or put back again. */
  settled?: boolean;
  /** performance.now() when its frame reached submit, when it was queued, when its batch committed (the stage trace). */
  receivedAt?: number;
  queuedAt?: number;
  committedAt?: number;
}

/** What one sender may hold at once. */
export interface SenderLimits {
  /** Points queued and being written (HUB_DEVICE_QUEUE_SHARE of the capacity). */
  readonly senderPoints: number;
  /** Messages queued and being written (HUB_INGEST_IN_FLIGHT_PER_TOKEN). */
  readonly senderMessages: number;
  /**
   * Points of one sender in one COPY batch at most (at least its next message): a batch's time
   * is what a small message committed with it waits, so no sender may make batches long.
   */
  readonly senderBatchPoints: number;
}

/** The default part of one sender in a batch (a few ms of COPY): what a flood adds to a small message's wait. */
export const SENDER_BATCH_POINTS = 1_000;

/**
 * A sender's limits from the configuration: `share` of the capacity, but never less than one
 * message of the largest size allowed (else such a message could never be queued).
 */
export function senderLimits(o: { queueCapacity: number; deviceQueueShare: number; maxBatchPoints: number; ingestInFlightPerToken: number }): SenderLimits {
  return {
    senderPoints: Math.min(o.queueCapacity, Math.max(o.maxBatchPoints, Math.floor(o.queueCapacity * o.deviceQueueShare))),
    senderMessages: o.ingestInFlightPerToken,
    senderBatchPoints: SENDER_BATCH_POINTS,
  };
}

/** Why {@link IngestQueue.tryOffer} took a message or not. */
export type OfferOutcome = 'accepted' | 'full' | 'over_share' | 'too_many';

/** One sender's messages, in its order, and what it holds. */
interface Lane {
  readonly key: string;
  /** Slots before `head` were handed out and are cleared at once, so taken messages are not kept alive. */
  items: (PendingIngest | undefined)[];
  head: number;
  /** Points queued and being written. */
  held: number;
  /** Messages queued and being written. */
  messages: number;
}

const ANONYMOUS = '';

export class IngestQueue {
  /** Every lane that holds something. */
  private readonly lanes = new Map<string, Lane>();
  /** Lanes with messages waiting, in the order the writer serves them next. */
  private ready = new Map<string, Lane>();
  /** Points queued plus points in the batch being written. */
  private points = 0;
  /** Points queued, not yet taken by the writer. */
  private waitingPoints = 0;
  private waitingMessages = 0;
  private waiter: (() => void) | undefined;
  /** Resolved by the next message offered (or a wake): see {@link nextArrival}. */
  private arrived: { promise: Promise<void>; resolve: () => void } | undefined;
  readonly limits: SenderLimits;

  constructor(
    readonly capacity: number,
    limits: Partial<SenderLimits> = {},
  ) {
    this.limits = {
      senderPoints: limits.senderPoints ?? capacity,
      senderMessages: limits.senderMessages ?? Number.POSITIVE_INFINITY,
      senderBatchPoints: limits.senderBatchPoints ?? Number.POSITIVE_INFINITY,
    };
  }

  /** Points held (queued and being written): `/healthz`'s `queue.depth`. */
  get depth(): number {
    return this.points;
  }

  /** Points waiting, not yet taken by the writer. */
  get waiting(): number {
    return this.waitingPoints;
  }

  /** Messages waiting, not yet taken by the writer. */
  get length(): number {
    return this.waitingMessages;
  }

  /** Points and messages one sender holds (queued and being written). */
  heldBy(sender: string): { points: number; messages: number } {
    const lane = this.lanes.get(sender);
    return { points: lane?.held ?? 0, messages: lane?.messages ?? 0 };
  }

  /** Senders holding anything. */
  get senders(): number {
    return this.lanes.size;
  }

  /**
   * Would a message of `count` points from `sender` be refused now? A cheap check made before a
   * message is validated, so a flooding sender's refused messages cost the hub little.
   */
  refusalFor(sender: string, count: number): Exclude<OfferOutcome, 'accepted'> | null {
    const lane = this.lanes.get(sender);
    if (lane !== undefined && lane.messages >= this.limits.senderMessages) return 'too_many';
    if (lane !== undefined && lane.held > 0 && lane.held + count > this.limits.senderPoints) return 'over_share';
    if (this.points + count > this.capacity) return 'full';
    return null;
  }

  /** Adds a message if its points fit; false: it was refused (full, or its sender's share), nothing was taken. */
  offer(message: PendingIngest): boolean {
    return this.tryOffer(message) === 'accepted';
  }

  /**
   * Adds a message if it fits the queue and its sender's limits. A message as large as the
   * biggest allowed always fits an empty share, whatever the share's size.
   */
  tryOffer(message: PendingIngest): OfferOutcome {
    const count = message.points.count;
    const key = message.sender ?? ANONYMOUS;
    const lane = this.lanes.get(key);
    const refused = this.refusalFor(key, count);
    if (refused !== null) return refused;
    const mine = lane ?? { key, items: [], head: 0, held: 0, messages: 0 };
    if (lane === undefined) this.lanes.set(key, mine);
    mine.items.push(message);
    mine.held += count;
    mine.messages++;
    if (!this.ready.has(key)) this.ready.set(key, mine);
    this.points += count;
    this.waitingPoints += count;
    this.waitingMessages++;
    this.wake();
    return 'accepted';
  }

  /**
   * Points the next {@link take} of `maxPoints` would hold (an estimate: whole messages up to each
   * lane's part). The writer opens its second connection for this, not for {@link waiting}: one
   * sender's deep backlog fills a batch only by its part, so it is written one batch at a time
   * and leaves the database's other core to the rest. Stops counting at `enough`.
   */
  nextBatchPoints(maxPoints: number, enough = maxPoints): number {
    if (this.ready.size === 0) return 0;
    const part = Math.max(1, Math.min(this.limits.senderBatchPoints, Math.floor(maxPoints / this.ready.size)));
    let n = 0;
    for (const lane of this.ready.values()) {
      let mine = 0;
      for (let i = lane.head; i < lane.items.length; i++) {
        const size = (lane.items[i] as PendingIngest).points.count;
        if (mine > 0 && mine + size > part) break;
        mine += size;
      }
      n += mine;
      // The writer asks on every arrival while a batch runs: with many senders waiting, stop
      // as soon as the answer is known rather than walk every lane.
      if (n >= maxPoints) return maxPoints;
      if (n >= enough) return n;
    }
    return n;
  }

  /**
   * The senders whose part of the next batch would be at least `points`, when some sender with a
   * smaller part is waiting too (else undefined: nothing to keep apart). The writer writes the
   * small parts first, in a batch of their own, and the large ones beside it: a batch lasts as
   * long as its largest part, and a small message should not wait for a flood's.
   */
  largeParts(maxPoints: number, points: number): Map<string, true> | undefined {
    if (this.ready.size < 2) return undefined;
    const part = Math.max(1, Math.min(this.limits.senderBatchPoints, Math.floor(maxPoints / this.ready.size)));
    let large: Map<string, true> | undefined;
    let small = false;
    for (const lane of this.ready.values()) {
      let mine = 0;
      for (let i = lane.head; i < lane.items.length && mine < points; i++) {
        const size = (lane.items[i] as PendingIngest).points.count;
        if (mine > 0 && mine + size > part) break;
        mine += size;
      }
      if (mine >= points) (large ??= new Map()).set(lane.key, true);
      else small = true;
    }
    return small ? large : undefined;
  }

  /** Is a sender other than those of `senders` waiting? */
  hasWaitingOutside(senders: ReadonlyMap<string, unknown>): boolean {
    for (const key of this.ready.keys()) if (!senders.has(key)) return true;
    return false;
  }

  /**
   * Takes up to `maxPoints` (at least one message): from each waiting sender in turn, at most
   * an equal part of `maxPoints` and `senderBatchPoints` (at least its next message). A sender
   * served goes to the back. Senders in `exclude` are passed over (their turn is kept).
   */
  take(maxPoints: number, exclude?: ReadonlyMap<string, unknown>): PendingIngest[] {
    const batch: PendingIngest[] = [];
    if (this.ready.size === 0) return batch;
    const part = Math.max(1, Math.min(this.limits.senderBatchPoints, Math.floor(maxPoints / this.ready.size)));
    let n = 0;
    for (const lane of [...this.ready.values()]) {
      if (exclude?.has(lane.key) === true) continue;
      let mine = 0;
      while (lane.head < lane.items.length) {
        const next = lane.items[lane.head] as PendingIngest;
        const size = next.points.count;
        if (batch.length > 0 && n + size > maxPoints) break;
        if (mine > 0 && mine + size > part) break;
        batch.push(next);
        n += size;
        mine += size;
        lane.items[lane.head] = undefined;
        lane.head++;
        this.waitingMessages--;
      }
      if (mine === 0) continue;
      this.ready.delete(lane.key);
      if (lane.head === lane.items.length) {
        // Empty: start over rather than keep a long array of cleared slots.
        lane.items = [];
        lane.head = 0;
      } else {
        if (lane.head > 1024 && lane.head * 2 > lane.items.length) {
          lane.items = lane.items.slice(lane.head);
          lane.head = 0;
        }
        this.ready.set(lane.key, lane);
      }
      if (n >= maxPoints) break;
    }
    this.waitingPoints -= n;
    return batch;
  }

  /** Puts a batch that could not be written back at the front of its senders' lanes, in its order; those senders go first. */
  putBack(batch: readonly PendingIngest[]): void {
    const bySender = new Map<string, PendingIngest[]>();
    for (const m of batch) {
      const key = m.sender ?? ANONYMOUS;
      const list = bySender.get(key);
      if (list === undefined) bySender.set(key, [m]);
      else list.push(m);
      this.waitingPoints += m.points.count;
      this.waitingMessages++;
    }
    const ready = new Map<string, Lane>();
    for (const [key, messages] of bySender) {
      // A message put back was held all along: its lane exists until it is released.
      const lane = this.lanes.get(key) as Lane;
      lane.items = [...messages, ...lane.items.slice(lane.head)];
      lane.head = 0;
      ready.set(key, lane);
    }
    for (const [key, lane] of this.ready) if (!ready.has(key)) ready.set(key, lane);
    this.ready = ready;
  }

  /** Forgets the points of messages that are done (committed, duplicate or refused). */
  release(messages: readonly PendingIngest[]): void {
    for (const m of messages) {
      const count = m.points.count;
      this.points -= count;
      const key = m.sender ?? ANONYMOUS;
      const lane = this.lanes.get(key);
      if (lane === undefined) continue;
      lane.held -= count;
      lane.messages--;
      if (lane.messages <= 0 && lane.head === lane.items.length) this.lanes.delete(key);
    }
  }

  /** Resolves when a message is waiting (at once if one is). */
  whenNonEmpty(): Promise<void> {
    if (this.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Resolves when the next message is queued (or on a wake), whatever is waiting already. */
  nextArrival(): Promise<void> {
    if (this.arrived === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.arrived = { promise, resolve };
    }
    return this.arrived.promise;
  }

  /** Wakes a writer waiting in whenNonEmpty or nextArrival (also used to stop it). */
  wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
    const arrived = this.arrived;
    this.arrived = undefined;
    arrived?.resolve();
  }
}
