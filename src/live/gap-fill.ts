/**
 * No gap when the bus blips (PROTOCOL.md §15): the commits of other hubs that this hub's
 * subscribers missed while NATS was away are read back from PostgreSQL (src/db/commit-log.ts),
 * in commit order, and handed to the fan-out as if they had come over the bus: none twice, none
 * lost.
 *
 * What it knows:
 * - per publishing hub, `heard`: the newest epoch that came from it (a batch, or the mark it
 *   publishes every second), or that a fill covered. NATS keeps one connection's messages in
 *   order, so every commit of that hub up to `heard` that we subscribe to has arrived.
 * - per watched event, `base`: the global epoch once our NATS subscription to it was in effect
 *   (earlier commits are not owed to its subscribers), raised by each fill's snapshot.
 * - for hubs not heard from yet, `unheard`: an epoch read seconds earlier while the bus stayed
 *   up (those commits were published long since), raised every few seconds; and for such a hub
 *   back from an outage of its own, the epoch before its first unpublished commit (its resync).
 * Missed, for event X and hub A: commits after max(base[X], heard[A]) — or, for a hub not heard
 * from, after max(base[X], min(unheard, resync[A])).
 *
 * When it fills: when this hub's NATS connection comes back, and when another hub's does (its
 * resync). While a fill runs, batches from the bus are held; after it, those of its snapshot are
 * dropped (the fill had them) and the rest go on in order.
 *
 * Like centrifuge's recovery (offset + epoch per channel, "recovered: false" once the history is
 * gone): a fill that cannot be exact (the commit log was purged past the outage) says which
 * events lost points, and their subscribers are closed with 1013 to resume with `since`.
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
    q: { after: number; events: readonly string[]; me: string },
    onChunk: (rows: { epoch: number; hub: string; event: string; ts: number; value: number }[]) => void | Promise<void>,
  ): Promise<{ snapshot: number; truncated: boolean }>;
}

export interface GapFillOptions {
  readonly me: string;
  readonly source: MissedCommitsSource;
  /** Hands a batch to the local fan-out. */
  readonly deliver: (batch: LiveBatch) => void;
  /** Events whose missed points could not all be found: their subscribers must resume with `since`. */
  readonly lost: (events: string[]) => void;
  readonly onError: (err: unknown) => void;
  /** Most points held while a fill runs; past it they are dropped and the next fill reads them. */
  readonly maxHeldPoints?: number;
  readonly retryMs?: number;
}

export interface GapFillStats {
  fills: number;
  filledPoints: number;
  droppedDuplicates: number;
  lostEvents: number;
}

const DEFAULT_MAX_HELD = 200_000;

export class GapFill {
  /** Per watched event: nothing up to this epoch is owed to its subscribers. */
  private readonly base = new Map<string, number>();
  /** Nothing up to this epoch is owed by hubs not heard from (raised while the bus stays up). */
  private unheard = 0;
  /** Per event, the snapshot of the last fill that read it: a later batch up to it came late, and was in the fill. */
  private readonly filledTo = new Map<string, number>();
  /** Per publishing hub: the newest epoch heard from it, and when. */
  private readonly heard = new Map<string, { epoch: number; at: number }>();
  /** Hubs not heard from, back from an outage of their own: the epoch before their first unpublished commit. */
  private readonly from = new Map<string, number>();
  /** The newest epoch this hub has seen (own commits and remote ones): a base until the real one is read. */
  private known = 0;
  private held: RemoteBatch[] = [];
  private heldPoints = 0;
  /** Bases being read: a fill waits for them (a base still at 0 would read the whole log). */
  private readonly reading = new Set<Promise<void>>();
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  readonly stats: GapFillStats = { fills: 0, filledPoints: 0, droppedDuplicates: 0, lostEvents: 0 };

  constructor(private readonly options: GapFillOptions) {
    // Until this is read, `known` (the base of a new watch) would be 0.
    const reading: Promise<void> = options.source
      .readEpoch()
      .then(
        (epoch) => this.saw(epoch),
        (err: unknown) => options.onError(err),
      )
      .finally(() => this.reading.delete(reading));
    this.reading.add(reading);
  }

  /** The hub's own commit, or any epoch it learned of. */
  saw(epoch: number): void {
    if (epoch > this.known) this.known = epoch;
  }

  /** The hub now watches `event`; `settled` resolves once its bus subscription is in effect. */
  watch(event: string, settled: Promise<void>): void {
    if (this.base.has(event)) return;
    this.base.set(event, this.known);
    const reading: Promise<void> = settled
      .then(() => this.options.source.readEpoch())
      .then(
        (epoch) => {
          const current = this.base.get(event);
          if (current !== undefined && epoch > current) this.base.set(event, epoch);
          this.saw(epoch);
        },
        (err: unknown) => this.options.onError(err),
      )
      .finally(() => this.reading.delete(reading));
    this.reading.add(reading);
  }

  unwatch(event: string): void {
    this.base.delete(event);
    this.filledTo.delete(event);
  }

  /**
   * The bus has been up since `epoch` was read, long enough for every commit up to it to have
   * been published and received: nothing up to it is owed by hubs not heard from.
   */
  raiseBase(epoch: number): void {
    if (epoch > this.unheard) this.unheard = epoch;
    // Hubs silent for an hour are gone (hub ids are per process): forget them.
    const old = Date.now() - 60 * 60_000;
    for (const [hub, h] of this.heard) if (h.at < old) this.heard.delete(hub);
  }

  /** A batch from another hub. */
  receive(batch: RemoteBatch): void {
    this.saw(batch.epoch);
    if (this.running !== undefined) {
      this.hold(batch);
      return;
    }
    const filled = this.filledTo.get(batch.event);
    if (filled !== undefined && batch.epoch <= filled) {
      // Published before a fill's snapshot, arrived after the fill: the fill had it.
      this.stats.droppedDuplicates++;
      return;
    }
    this.hear(batch.hub, batch.epoch);
    if (this.base.has(batch.event)) this.options.deliver({ epoch: batch.epoch, byEvent: new Map([[batch.event, batch.points]]) });
  }

  /** Another hub's mark: every commit of it up to `epoch` has been published (in order, before this). */
  mark(hub: string, epoch: number): void {
    this.receive({ hub, event: '', epoch, points: [] });
  }

  /** Another hub is back from an outage of its own: its commits after `from` were never published. */
  resync(hub: string, from: number): void {
    const known = this.from.get(hub);
    this.from.set(hub, known === undefined ? from : Math.min(known, from));
    this.fill();
  }

  /** Reads what was missed (the bus came back, or another hub's did). */
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

  close(): void {
    this.closed = true;
    this.held = [];
    this.heldPoints = 0;
  }

  private hear(hub: string, epoch: number): void {
    const h = this.heard.get(hub);
    if (h === undefined) this.heard.set(hub, { epoch, at: Date.now() });
    else {
      if (epoch > h.epoch) h.epoch = epoch;
      h.at = Date.now();
    }
  }

  private hold(batch: RemoteBatch): void {
    if (this.heldPoints + batch.points.length > (this.options.maxHeldPoints ?? DEFAULT_MAX_HELD)) {
      // Too much to keep while the database answers: drop it all, the next fill reads it back.
      // (What was held is not heard: the bounds stay where they were.)
      this.held = [];
      this.heldPoints = 0;
      this.again = true;
      return;
    }
    this.held.push(batch);
    this.heldPoints += batch.points.length;
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      try {
        await this.fillOnce();
        return;
      } catch (err) {
        this.options.onError(err);
        await new Promise((r) => setTimeout(r, this.options.retryMs ?? 1000));
      }
    }
  }

  /** The epoch after which `hub`'s commits of an event with this base were missed. */
  private bound(base: number, hub: string, heard: ReadonlyMap<string, number>, unheard: number, from: ReadonlyMap<string, number>): number {
    const h = heard.get(hub);
    if (h !== undefined) return Math.max(base, h);
    const f = from.get(hub);
    return Math.max(base, f === undefined ? unheard : Math.min(unheard, f));
  }

  private async fillOnce(): Promise<void> {
    await Promise.all([...this.reading]);
    const events = [...this.base.keys()];
    const bases = new Map(this.base);
    const heard = new Map([...this.heard].map(([hub, h]) => [hub, h.epoch]));
    const from = new Map(this.from);
    const unheard = this.unheard;
    this.from.clear();
    if (events.length === 0) return;
    // The query reads from the lowest bound; each row is then held to its own.
    let after = Infinity;
    for (const base of bases.values()) {
      after = Math.min(after, this.bound(base, '', heard, unheard, from));
      for (const hub of [...heard.keys(), ...from.keys()]) after = Math.min(after, this.bound(base, hub, heard, unheard, from));
    }
    this.stats.fills++;
    let batch: { epoch: number; byEvent: Map<string, Point[]> } | undefined;
    const flush = (): void => {
      if (batch === undefined) return;
      for (const points of batch.byEvent.values()) this.stats.filledPoints += points.length;
      this.options.deliver(batch);
      batch = undefined;
    };
    let outcome: { snapshot: number; truncated: boolean };
    try {
      outcome = await this.options.source.missed({ after, events, me: this.options.me }, (rows) => {
        for (const row of rows) {
          const base = bases.get(row.event);
          // Not owed (heard already), or no longer watched: nobody here wants it.
          if (base === undefined || !this.base.has(row.event) || row.epoch <= this.bound(base, row.hub, heard, unheard, from)) continue;
          if (batch !== undefined && batch.epoch !== row.epoch) flush();
          batch ??= { epoch: row.epoch, byEvent: new Map() };
          const list = batch.byEvent.get(row.event);
          if (list === undefined) batch.byEvent.set(row.event, [[row.ts, row.value]]);
          else list.push([row.ts, row.value]);
        }
        flush();
      });
    } catch (err) {
      // Asked again on the retry.
      for (const [hub, f] of from) this.from.set(hub, Math.min(f, this.from.get(hub) ?? f));
      throw err;
    }
    this.saw(outcome.snapshot);
    // Everything up to the snapshot is in; later commits come over the bus (or the next fill).
    for (const event of events) {
      const base = this.base.get(event);
      if (base === undefined) continue;
      if (base < outcome.snapshot) this.base.set(event, outcome.snapshot);
      this.filledTo.set(event, Math.max(outcome.snapshot, this.filledTo.get(event) ?? 0));
    }
    if (outcome.truncated) {
      this.stats.lostEvents += events.length;
      this.options.lost(events);
    }
    // Held batches of the snapshot were in the fill (or were before the watch began).
    const held = this.held;
    this.held = [];
    this.heldPoints = 0;
    for (const b of held) {
      if (b.epoch <= outcome.snapshot) this.stats.droppedDuplicates++;
      else {
        this.held.push(b);
        this.heldPoints += b.points.length;
      }
    }
  }

  /** After the last fill: the held batches go on, in the order they came. */
  private release(): void {
    const held = this.held;
    this.held = [];
    this.heldPoints = 0;
    for (const b of held) this.receive(b);
  }
}
