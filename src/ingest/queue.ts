/**
 * The bounded ingest queue. Its bound counts points, queued and being written: a message that
 * does not fit is refused whole (`503 busy`), so the hub's memory stays bounded however many
 * devices push however fast.
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
  /** A device's plugin instance, for re-checking its permissions if the catalog changed. */
  readonly pluginInstancePublicId: string | null;
  readonly resolve: (ack: IngestAck) => void;
  readonly reject: (error: HubError) => void;
  /** Set once answered (committed, duplicate or refused): never written or put back again. */
  settled?: boolean;
}

export class IngestQueue {
  /** Slots before `head` were handed out and are cleared at once, so taken messages are not kept alive. */
  private items: (PendingIngest | undefined)[] = [];
  private head = 0;
  /** Points queued plus points in the batch being written. */
  private points = 0;
  /** Points queued, not yet taken by the writer. */
  private waitingPoints = 0;
  private waiter: (() => void) | undefined;

  constructor(readonly capacity: number) {}

  /** Points held (queued and being written): `/healthz`'s `queue.depth`. */
  get depth(): number {
    return this.points;
  }

  /** Points waiting, not yet taken by the writer. */
  get waiting(): number {
    return this.waitingPoints;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Adds a message if its points fit; false: the queue is full, nothing was taken. */
  offer(message: PendingIngest): boolean {
    if (this.points + message.points.count > this.capacity) return false;
    this.items.push(message);
    this.points += message.points.count;
    this.waitingPoints += message.points.count;
    this.wake();
    return true;
  }

  /** Takes messages from the front, up to `maxPoints` (at least one message). */
  take(maxPoints: number): PendingIngest[] {
    const batch: PendingIngest[] = [];
    let n = 0;
    while (this.head < this.items.length) {
      const next = this.items[this.head] as PendingIngest;
      if (batch.length > 0 && n + next.points.count > maxPoints) break;
      batch.push(next);
      n += next.points.count;
      this.items[this.head] = undefined;
      this.head++;
    }
    this.waitingPoints -= n;
    if (this.head === this.items.length) {
      // Empty: start over rather than keep a long array of cleared slots.
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  /** Puts a batch that could not be written back at the front, in its order. */
  putBack(batch: readonly PendingIngest[]): void {
    this.items = [...batch, ...this.items.slice(this.head)];
    this.head = 0;
    for (const m of batch) this.waitingPoints += m.points.count;
  }

  /** Forgets the points of messages that are done (committed or refused). */
  release(messages: readonly PendingIngest[]): void {
    for (const m of messages) this.points -= m.points.count;
  }

  /** Resolves when a message is waiting (at once if one is). */
  whenNonEmpty(): Promise<void> {
    if (this.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Wakes a writer waiting in whenNonEmpty (also used to stop it). */
  wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}
