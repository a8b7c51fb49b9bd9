/**
 * No gap when the bus blips (PROTOCOL.md §15): the commits of other hubs that this hub's
 * subscribers missed — NATS away here or there, a link dead without a word, a hub cut off or
 * dead — are read back from PostgreSQL (src/db/commit-log.ts) in commit order and handed to
 * the fan-out as if they had come over the bus: none twice, none lost, each hub's in its order.
 *
 * What it keeps, exactly:
 * - per watched event and publishing hub, `last`: the epoch of the last commit of that hub
 *   handed on for the event. A hub's commits reach us in its commit order, from the bus or from
 *   a fill, so a batch at or below `last` is one we had: dropped. (Per event: a commit of two
 *   events comes as two messages, and a link may die between them.)
 * - per publishing hub, `mark`: the epoch up to which it has published every commit of its own,
 *   from the mark it publishes each second (NATS keeps one connection's messages in order, so
 *   everything it published before the mark has reached us).
 * - per watched event, `base`: the global epoch once our NATS subscription to it was in effect
 *   (earlier commits are not owed to its subscribers), raised to each fill's snapshot (a fill
 *   reads everything owed up to its snapshot: it skips nothing).
 * Owed, for event X and hub A: A's commits of X after max(base[X], last[X][A], mark[A]).
 *
 * When it fills: when this hub's NATS connection comes back; when another hub says it is back
 * (its resync); when a hub's mark is overdue (NATS away here, or that hub cut off or dead: its
 * commits come from PostgreSQL meanwhile); and every minute, which keeps the bounds fresh. While
 * a fill runs, what comes over the bus is held, then handled as usual (duplicates dropped).
 *
 * Like centrifuge's recovery ("recovered: false" once the history is gone): where the commit
 * log may have been purged past a bound, or fills keep failing, the events are reported lost
 * and their subscribers closed with 1013 to resume with `since`.
 * @see PROTOCOL.md §7, §15
 */
import type { LiveBatch, Point } from './fanout.js';

/** One batch of one event as it arrives from another hub. */
export interface RemoteBatch {
  readonly hub: string;
  readonly event: string;
  readonly epoch: number;
  readonly points: Point[];
}

/** Where missed commits are read from (src/db/commit-log.ts, injected: no pg here). */
export interface MissedCommitsSource {
  readEpoch(): Promise<number>;
  missed(
    q: { events: readonly string[]; me: string; bounds: (hubs: readonly string[]) => Map<string, number> },
    onChunk: (rows: { epoch: number; hub: string; event: string; ts: number; value: number }[]) => void | Promise<void>,
  ): Promise<{ snapshot: number }>;
}

export interface GapFillOptions {
  readonly me: string;
  readonly source: MissedCommitsSource;
  /** Hands a batch to the local fan-out. */
  readonly deliver: (batch: LiveBatch) => void;
  /** Events whose missed points could not all be read back: their subscribers must resume with `since`. */
  readonly lost: (events: string[]) => void;
  readonly onError: (err: unknown) => void;
  /** How long commit rows are kept: a bound older than this (less a margin) may have lost rows. */
  readonly keepMs: number;
  /** Most points held while a fill runs; past it they are dropped and the next fill reads them. */
  readonly maxHeldPoints?: number;
  readonly retryMs?: number;
  /** A fill failing for this long gives up: its events are reported lost. */
  readonly giveUpMs?: number;
  readonly now?: () => number;
}

export interface GapFillStats {
  fills: number;
  filledPoints: number;
  droppedDuplicates: number;
  lostEvents: number;
}

const DEFAULT_MAX_HELD = 200_000;
/** A bound this close to the log's age is treated as possibly purged. */
const PURGE_MARGIN_MS = 5 * 60_000;

interface Stamp {
  epoch: number;
  /** When it was learned (wall clock, ms): how old the bound is against the log's age. */
  at: number;
}

type Held = { kind: 'batch'; batch: RemoteBatch } | { kind: 'mark'; hub: string; epoch: number };

export class GapFill {
  private readonly base = new Map<string, Stamp>();
  private readonly last = new Map<string, Map<string, Stamp>>();
  private readonly marks = new Map<string, Stamp>();
  /** When each publishing hub was last heard from (a batch or a mark): overdue ones are read from PostgreSQL. */
  private readonly heardAt = new Map<string, number>();
  /** The newest epoch this hub has seen: the base of a new watch until the real one is read. */
  private known = 0;
  private held: Held[] = [];
  private heldPoints = 0;
  /** Bases being read: a fill waits for them (a base still at 0 would read the whole log). */
  private readonly reading = new Set<Promise<void>>();
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly now: () => number;
  readonly stats: GapFillStats = { fills: 0, filledPoints: 0, droppedDuplicates: 0, lostEvents: 0 };

  constructor(private readonly options: GapFillOptions) {
    this.now = options.now ?? Date.now;
    this.track(options.source.readEpoch().then((epoch) => this.saw(epoch)));
  }

  /** The hub's own commit, or any epoch it learned of. */
  saw(epoch: number): void {
    if (epoch > this.known) this.known = epoch;
  }

  /** The hub now watches `event`; `settled` resolves once its bus subscription is in effect. */
  watch(event: string, settled: Promise<void>): void {
    if (this.base.has(event)) return;
    const base: Stamp = { epoch: this.known, at: this.now() };
    this.base.set(event, base);
    this.last.set(event, new Map());
    this.track(
      settled
        .then(() => this.options.source.readEpoch())
        .then((epoch) => {
          // Still the same watch (not dropped, or dropped and made anew)?
          if (this.base.get(event) === base && epoch > base.epoch) base.epoch = epoch;
          this.saw(epoch);
        }),
    );
  }

  unwatch(event: string): void {
    this.base.delete(event);
    this.last.delete(event);
  }

  /** A batch from another hub. */
  receive(batch: RemoteBatch): void {
    this.saw(batch.epoch);
    if (this.running !== undefined) {
      this.hold({ kind: 'batch', batch });
      return;
    }
    const byHub = this.last.get(batch.event);
    if (byHub === undefined) return; // not watched (any more)
    const last = byHub.get(batch.hub);
    if (last !== undefined && batch.epoch <= last.epoch) {
      this.stats.droppedDuplicates++;
      return;
    }
    byHub.set(batch.hub, { epoch: batch.epoch, at: this.now() });
    this.heardAt.set(batch.hub, this.now());
    this.options.deliver({ epoch: batch.epoch, byEvent: new Map([[batch.event, batch.points]]) });
  }

  /** Another hub's mark: every commit of its own up to `epoch` was published before this. */
  mark(hub: string, epoch: number): void {
    this.saw(epoch);
    if (this.running !== undefined) {
      this.hold({ kind: 'mark', hub, epoch });
      return;
    }
    this.heardAt.set(hub, this.now());
    const m = this.marks.get(hub);
    if (m === undefined) this.marks.set(hub, { epoch, at: this.now() });
    else {
      if (epoch > m.epoch) m.epoch = epoch;
      m.at = this.now();
    }
  }

  /** Hubs not heard from (a batch or a mark) for `ms` (cut off, dead, or our own link is down). */
  overdue(ms: number): string[] {
    const old = this.now() - ms;
    const hubs: string[] = [];
    for (const [hub, at] of this.heardAt) if (at < old) hubs.push(hub);
    return hubs;
  }

  /** Stops watching for a hub long silent (gone, most likely; the routine fill still reads its commits). */
  forget(hub: string): void {
    this.heardAt.delete(hub);
  }

  /** Reads what was missed. */
  fill(): void {
    if (this.closed) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.run().finally(() => {
      this.running = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        this.fill();
      } else this.release();
    });
  }

  /** Waits for the fills running or queued now (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  close(): void {
    this.closed = true;
    this.held = [];
    this.heldPoints = 0;
  }

  private track(p: Promise<void>): void {
    const reading: Promise<void> = p.catch((err: unknown) => this.options.onError(err)).finally(() => this.reading.delete(reading));
    this.reading.add(reading);
  }

  private hold(item: Held): void {
    const points = item.kind === 'batch' ? item.batch.points.length : 0;
    if (this.heldPoints + points > (this.options.maxHeldPoints ?? DEFAULT_MAX_HELD)) {
      // Too much to keep while the database answers: drop the batches (the next fill reads them
      // back: `last` did not move for them) but keep the marks.
      this.held = this.held.filter((h) => h.kind === 'mark');
      this.heldPoints = 0;
      this.again = true;
      if (item.kind === 'mark') this.held.push(item);
      return;
    }
    this.held.push(item);
    this.heldPoints += points;
  }

  private async run(): Promise<void> {
    const started = this.now();
    for (;;) {
      if (this.closed) return;
      try {
        await this.fillOnce();
        return;
      } catch (err) {
        this.options.onError(err);
        if (this.now() - started >= (this.options.giveUpMs ?? 5000)) {
          // §15's bound is past: the subscribers resume with `since` rather than wait on.
          this.giveUp();
          return;
        }
        await new Promise((r) => setTimeout(r, this.options.retryMs ?? 1000));
      }
    }
  }

  private giveUp(): void {
    const events = [...this.base.keys()];
    this.held = this.held.filter((h) => h.kind === 'mark');
    this.heldPoints = 0;
    this.again = false;
    if (events.length === 0) return;
    this.stats.lostEvents += events.length;
    this.options.lost(events);
  }

  /** The bound of `hub` for `event`: owed are its commits after it. */
  private bound(event: string, hub: string): Stamp {
    let b = this.base.get(event) as Stamp;
    const last = this.last.get(event)?.get(hub);
    if (last !== undefined && last.epoch > b.epoch) b = last;
    const mark = this.marks.get(hub);
    if (mark !== undefined && mark.epoch > b.epoch) b = mark;
    return b;
  }

  private async fillOnce(): Promise<void> {
    await Promise.all([...this.reading]);
    const events = [...this.base.keys()];
    if (events.length === 0) return;
    this.stats.fills++;
    const purgedBefore = this.now() - this.options.keepMs + PURGE_MARGIN_MS;
    const lost = new Set<string>();
    // Bounds as of the fill's start (nothing is handed on meanwhile: batches are held).
    const bounds = new Map<string, Map<string, number>>();
    const boundsOf = (hubs: readonly string[]): Map<string, number> => {
      const lowest = new Map<string, number>();
      for (const hub of hubs) {
        const byEvent = new Map<string, number>();
        let low = Infinity;
        for (const event of events) {
          const b = this.bound(event, hub);
          // Rows after a bound this old may be purged already: cannot be exact.
          if (b.at < purgedBefore) lost.add(event);
          byEvent.set(event, b.epoch);
          low = Math.min(low, b.epoch);
        }
        bounds.set(hub, byEvent);
        lowest.set(hub, low);
      }
      return lowest;
    };
    let batch: { epoch: number; byEvent: Map<string, Point[]> } | undefined;
    const flush = (): void => {
      if (batch === undefined) return;
      for (const points of batch.byEvent.values()) this.stats.filledPoints += points.length;
      this.options.deliver(batch);
      batch = undefined;
    };
    const { snapshot } = await this.options.source.missed({ events, me: this.options.me, bounds: boundsOf }, (rows) => {
      for (const row of rows) {
        const bound = bounds.get(row.hub)?.get(row.event);
        const byHub = this.last.get(row.event);
        // Not owed (handed on already, or before the watch), or no longer watched.
        if (bound === undefined || byHub === undefined || row.epoch <= bound) continue;
        const last = byHub.get(row.hub);
        if (batch !== undefined && batch.epoch !== row.epoch) flush();
        batch ??= { epoch: row.epoch, byEvent: new Map() };
        const list = batch.byEvent.get(row.event);
        if (list === undefined) batch.byEvent.set(row.event, [[row.ts, row.value]]);
        else list.push([row.ts, row.value]);
        // Set on the commit's first row; its later rows (same epoch) pass the check above.
        if (last === undefined || last.epoch < row.epoch) byHub.set(row.hub, { epoch: row.epoch, at: this.now() });
      }
      flush();
    });
    this.saw(snapshot);
    // Everything owed up to the snapshot has been handed on, from every hub in the log.
    const at = this.now();
    for (const event of events) {
      const base = this.base.get(event);
      if (base !== undefined && base.epoch <= snapshot) {
        base.epoch = snapshot;
        base.at = at;
      }
    }
    if (lost.size > 0) {
      this.stats.lostEvents += lost.size;
      this.options.lost([...lost]);
    }
  }

  /** After the last fill: what was held goes on, through the usual checks, in the order it came. */
  private release(): void {
    const held = this.held;
    this.held = [];
    this.heldPoints = 0;
    for (const h of held) {
      if (h.kind === 'mark') this.mark(h.hub, h.epoch);
      else this.receive(h.batch);
    }
  }
}
