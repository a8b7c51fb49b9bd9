/**
 * The COPY writer: takes batches of many messages from the bounded queue and writes each in one
 * transaction (binary COPY of the rows, then the `seq` marks). Messages are acknowledged only
 * after COMMIT returns.
 *
 * Batches run on `connections` connections at once (p-queue), so PostgreSQL parses one batch
 * while another commits, but they COMMIT strictly in queue order: each transaction waits for the
 * previous batch's outcome before its COMMIT, and rolls back if that one failed. So acks keep
 * queue order, `seq` decisions made ahead of a commit are never wrong for long, and committed
 * batches are handed on (live fan-out, the bus) in epoch order, which other hubs' gap fill relies
 * on. A batch beside a running one (a small device's messages beside a flood's, see
 * `freeConnection`) still commits after it.
 *
 * Failures never lose an acknowledged point and never acknowledge a lost one. On any failure the
 * pipeline drains and the failed batches are dealt with in order:
 * - the database unavailable: they go back to the front of the queue and the writer retries with
 *   backoff (the queue fills, devices get `busy`); the marks of their owners are read again (a
 *   COMMIT cut off mid-way may have happened);
 * - a batch refused for its content (an event deleted since validation, say): the catalog is
 *   reloaded, the messages now invalid are refused, and what still fails is halved until the one
 *   bad message is refused alone;
 * - batches rolled back only because an earlier one failed are simply written again.
 */
import PQueue from 'p-queue';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Logger } from 'pino';
import { findPgError, isConnectionError, mapDbError } from '../db/db-errors.js';
import { checkout } from '../db/pool.js';
import { HubError, invalid } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Catalog, EventRef } from './catalog.js';
import { countAndLogSql, type CommitLog } from '../db/commit-log.js';
import { COPY_DATAPOINTS_BATCH_SQL, COPY_DATAPOINTS_SQL, encodeCopy } from './copy-encoder.js';
import { IngestTrace } from './ingest-trace.js';
import type { IngestQueue, PendingIngest, SeqOwner } from './queue.js';
import { EPOCH_SQL, epochOf, eventsOf, holdReferencesSql, SKIP_ROW_REFERENCE_CHECKS, timeRange } from './batch-sql.js';
import { marksSql, type SequenceStore } from './sequences.js';
import { Uuid7Generator } from './uuid7.js';

/** A committed message's points, handed to live subscribers and rules. */
export interface CommittedPoints {
  readonly events: readonly EventRef[];
  readonly values: Float64Array;
  readonly ts: Float64Array;
  readonly count: number;
}

export interface CopyWriterOptions {
  /** Rows per COPY at most. */
  readonly maxBatchRows: number;
  /**
   * How long a small batch waits for more messages (0: one turn of the event loop, so frames
   * already read are written together). At low load a wait only adds to every ack: while one
   * transaction runs the next batch gathers by itself.
   */
  readonly lingerMs: number;
  /** Transactions in flight at once at most (their COMMITs stay in order). */
  readonly connections: number;
  /**
   * A second transaction starts beside a running one only when at least this many points wait:
   * at low load one connection answers soonest (no wait for another batch's COMMIT, one
   * PostgreSQL backend fewer competing for the CPU); with a backlog two keep PostgreSQL busy.
   */
  readonly pipelineAtPoints: number;
}

export const DEFAULT_WRITER_OPTIONS: CopyWriterOptions = { maxBatchRows: 50_000, lingerMs: 0, connections: 2, pipelineAtPoints: 2_000 };

const MAX_BACKOFF_MS = 5_000;
/**
 * A sender's part of a batch from which it is written apart from smaller ones (a few ms of COPY):
 * see IngestQueue.largeParts.
 */
const LARGE_PART_POINTS = 250;

/** What a batch will write: its new messages, its duplicates, and the seq marks it sets. */
interface Plan {
  readonly fresh: PendingIngest[];
  /** Points of `fresh`: the rows this batch writes. */
  readonly rows: number;
  readonly duplicates: PendingIngest[];
  readonly marks: Map<string, { owner: SeqOwner; seq: number }>;
}

/** When a batch passed each point of its transaction (performance.now()), for the stage trace. */
interface Timings {
  taken: number;
  begun: number;
  copied: number;
  ordered: number;
  committed: number;
}

interface Failure {
  readonly index: number;
  readonly batch: PendingIngest[];
  readonly error: unknown;
}

/** Thrown into a transaction whose predecessor failed: it must not commit. */
class PredecessorFailed extends Error {}

/**
 * Work that must commit with a batch (the rules' triggers): `prepare` is pure and synchronous;
 * the work it returns writes in the batch's transaction, and `committed` runs after COMMIT.
 */
export interface CommitHook {
  prepare(messages: readonly CommittedPoints[]): {
    write(run: (text: string, params: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>): Promise<void>;
    committed(): void;
  } | null;
}

export class CopyWriter {
  private readonly ids = new Uuid7Generator();
  private readonly runner: PQueue;
  private running = false;
  private loop: Promise<void> | undefined;
  private backoffMs = 0;
  private batches = 0;
  /** One shared wait for the runner's next finished task (see freeConnection). */
  private settledSignal: Promise<void> | undefined;
  /** Senders with messages in a running transaction (batches each holds). */
  private readonly sendersInFlight = new Map<string, number>();
  /** The outcome of the last batch handed to the runner (true: committed). */
  private lastCommit: Promise<boolean> = Promise.resolve(true);
  /** Seq marks given to batches not yet known to be committed, by owner key. */
  private readonly tentative = new Map<string, number>();
  private failures: Failure[] = [];
  /** Set while the database is unreachable; cleared by the next commit. */
  unavailableSince: number | undefined;
  /** Committed rows per millisecond, smoothed: the basis of `retry_after_ms`. */
  rowsPerMs = 50;
  /** Runs in every batch's transaction before its COMMIT (the rule engine). */
  commitHook: CommitHook | undefined;
  /** With several hubs: each batch's rows carry its id and its commit is logged (PROTOCOL.md §15). */
  commitLog: CommitLog | undefined;
  /** Where each message's time goes, stage by stage (read by `/metrics`). */
  readonly trace = new IngestTrace();

  constructor(
    private readonly pool: pg.Pool,
    private readonly queue: IngestQueue,
    private readonly sequences: SequenceStore,
    private readonly catalog: Catalog,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Committed points, with the epoch of their commit (see ingest_epoch). */
    private readonly onCommitted: (messages: readonly CommittedPoints[], epoch: number) => void,
    private readonly options: CopyWriterOptions = DEFAULT_WRITER_OPTIONS,
  ) {
    this.runner = new PQueue({ concurrency: options.connections });
  }

  start(): void {
    this.running = true;
    void this.connect();
    this.loop = this.run();
  }

  /**
   * Opens the writer's connections now, so the first batches after a start do not also pay for
   * connecting and authenticating (tens of ms: the fixed-rate bench's first second). A failure
   * is left to the first batch, which deals with an unavailable database anyway.
   */
  private async connect(): Promise<void> {
    const held = await Promise.allSettled(Array.from({ length: this.options.connections }, () => checkout(this.pool)));
    for (const h of held) if (h.status === 'fulfilled') h.value.release();
  }

  /** Waits until the queue is empty (or `timeoutMs` passes), then stops. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.depth > 0 && Date.now() < deadline) await sleep(10);
    const drained = this.queue.depth === 0;
    this.running = false;
    this.queue.wake();
    // A transaction stuck on a dead connection must not hold shutdown forever.
    const grace = sleep(Math.max(0, deadline - Date.now()) + 1000);
    await Promise.race([Promise.all([this.loop, this.runner.onIdle()]), grace]);
    return drained;
  }

  private async run(): Promise<void> {
    while (this.running) {
      // Failed batches are waiting to be dealt with: do not sleep until new messages come.
      if (this.failures.length === 0) await this.queue.whenNonEmpty();
      if (!this.running) break;
      // A small batch waits a moment for company (at least the frames already read); a busy
      // queue is written at once.
      if (this.queue.waiting < this.options.maxBatchRows) await (this.options.lingerMs > 0 ? sleep(this.options.lingerMs) : yieldTurn());
      // Take a batch only when a connection is free, so it holds everything waiting by then.
      const exclude = await this.freeConnection();
      if (this.failures.length > 0) {
        await this.runner.onIdle();
        await this.recover();
        // The failed batches are dealt with (written alone, refused or put back) and nothing
        // runs: the next batch has no predecessor to wait for. Left as it was (the last failed
        // batch's `false`), every later batch was rolled back and written again alone.
        this.lastCommit = Promise.resolve(true);
        if (this.backoffMs > 0) await sleep(this.backoffMs);
        continue;
      }
      const batch = this.queue.take(this.options.maxBatchRows, exclude);
      if (batch.length === 0) continue;
      const taken = performance.now();
      try {
        await this.sequences.ensure(this.pool, owners(batch).values());
      } catch (err) {
        this.failures.push({ index: ++this.batches, batch, error: err });
        continue;
      }
      const senders = sendersOf(batch);
      for (const key of senders) this.sendersInFlight.set(key, (this.sendersInFlight.get(key) ?? 0) + 1);
      const plan = this.plan(batch);
      const index = ++this.batches;
      const previous = this.lastCommit;
      let settle!: (committed: boolean) => void;
      this.lastCommit = new Promise((resolve) => {
        settle = resolve;
      });
      void this.runner.add(async () => {
        try {
          const { ms, epoch, after, timings } = await this.transaction(plan, previous, taken);
          settle(true);
          this.finish(batch, plan, ms, epoch, timings);
          after?.();
        } catch (err) {
          settle(false);
          this.failures.push({ index, batch, error: err });
          // The loop may be waiting for new messages; the failed ones need it now.
          this.queue.wake();
        } finally {
          for (const key of senders) {
            const n = (this.sendersInFlight.get(key) ?? 1) - 1;
            if (n <= 0) this.sendersInFlight.delete(key);
            else this.sendersInFlight.set(key, n);
          }
        }
      });
    }
  }

  /**
   * Waits for a connection the next batch may use, and says which senders that batch must pass
   * over. No transaction running: any batch, but senders with small parts go first in a batch of
   * their own when a sender with a large part waits too. One running, a connection free: a second batch
   * beside it when the next batch would hold a backlog (≥ `pipelineAtPoints`, senders' parts
   * together); or, for senders with nothing in the running batch, a batch of theirs alone — so a
   * device's small message is written beside a flood's batch, not after it (it still commits
   * after it: commits keep queue order). A lone flood therefore runs one batch at a time.
   */
  private async freeConnection(): Promise<ReadonlyMap<string, unknown> | undefined> {
    for (;;) {
      const running = this.runner.pending + this.runner.size;
      // Small parts first, alone; the large ones then go beside them (below).
      if (running === 0) return this.queue.largeParts(this.options.maxBatchRows, LARGE_PART_POINTS);
      if (running < this.options.connections) {
        if (this.queue.nextBatchPoints(this.options.maxBatchRows, this.options.pipelineAtPoints) >= this.options.pipelineAtPoints) return undefined;
        if (this.queue.hasWaitingOutside(this.sendersInFlight)) return new Map(this.sendersInFlight);
      }
      // A batch committing frees a connection, and may let a waiting sender in.
      await Promise.race([this.nextSettled(), this.queue.nextArrival()]);
      if (this.failures.length > 0 || !this.running) return undefined;
    }
  }

  private nextSettled(): Promise<void> {
    this.settledSignal ??= nextSettled(this.runner).then(() => {
      this.settledSignal = undefined;
    });
    return this.settledSignal;
  }

  /** Decides duplicates in queue order against committed and tentative marks. */
  private plan(batch: PendingIngest[]): Plan {
    const marks = new Map<string, { owner: SeqOwner; seq: number }>();
    const fresh: PendingIngest[] = [];
    const duplicates: PendingIngest[] = [];
    for (const message of batch) {
      const { owner } = message;
      const seq = message.points.seq;
      if (owner === null || seq === null) {
        fresh.push(message);
        continue;
      }
      const last = Math.max(this.sequences.last(owner.key), this.tentative.get(owner.key) ?? -1);
      if (seq <= last) duplicates.push(message);
      else {
        marks.set(owner.key, { owner, seq });
        this.tentative.set(owner.key, seq);
        fresh.push(message);
      }
    }
    return { fresh, rows: fresh.reduce((n, m) => n + m.points.count, 0), duplicates, marks };
  }

  /**
   * BEGIN and COPY; then wait for the previous batch's outcome and, only if it committed, write
   * the seq marks, count the commit epoch and COMMIT. Returns the milliseconds it took and the
   * batch's epoch.
   */
  private async transaction(
    plan: Plan,
    previous: Promise<boolean>,
    taken = performance.now(),
  ): Promise<{ ms: number; epoch: number; after: (() => void) | undefined; timings: Timings }> {
    const started = performance.now();
    const { client, release } = await checkout(this.pool);
    let broken: Error | undefined;
    try {
      // BEGIN goes with the COPY (one simple query, one round trip); alone for a batch of duplicates.
      if (plan.rows === 0) await client.query('BEGIN');
      const batchId = plan.rows > 0 ? this.commitLog?.nextBatch() : undefined;
      const begun = performance.now();
      let hold = '';
      if (plan.rows > 0) {
        const experiment = this.catalog.runningExperiment();
        const payload = encodeCopy(
          plan.fresh.map((m) => ({ count: m.points.count, events: m.points.eventBytes, values: m.points.values, ts: m.points.ts })),
          experiment?.bytes ?? null,
          this.ids,
          batchId,
        );
        // The rows' own reference check is skipped: the batch's events and experiment are held
        // once instead, before COMMIT (holdReferencesSql), as a deferred foreign key would.
        hold = holdReferencesSql(eventsOf(plan.fresh), experiment?.id ?? null);
        const stream = client.query(copyFrom(`BEGIN; ${SKIP_ROW_REFERENCE_CHECKS}; ${batchId === undefined ? COPY_DATAPOINTS_SQL : COPY_DATAPOINTS_BATCH_SQL}`));
        await new Promise<void>((resolve, reject) => {
          stream.once('finish', resolve);
          stream.once('error', reject);
          stream.end(payload);
        });
      }
      const copied = performance.now();
      if (!(await previous)) throw new PredecessorFailed('an earlier batch failed');
      const ordered = performance.now();
      // The marks only after the previous batch committed: an earlier batch may still have to
      // lock the same rows, and it would wait on us while we wait on it, unseen by PostgreSQL.
      // Rule rows are locked in here too, after the marks.
      const work = plan.rows > 0 ? this.commitHook?.prepare(plan.fresh.map((m) => m.points)) : null;
      // With several hubs the epoch's statement also logs the commit (src/db/commit-log.ts).
      const epochSql = batchId === undefined || this.commitLog === undefined ? EPOCH_SQL : countAndLogSql(this.commitLog.hub, batchId, ...timeRange(plan.fresh));
      let epoch: number;
      let after: (() => void) | undefined;
      if (work === null || work === undefined) {
        // Marks, epoch and COMMIT in one round trip (a simple query of several statements; one
        // that fails skips the rest and the transaction is rolled back below): each round trip
        // is a wait for PostgreSQL to be scheduled, which on a busy machine is the ack's tail.
        const results = await client.query(`${hold === '' ? '' : `${hold};\n`}${plan.marks.size > 0 ? `${marksSql(plan.marks)};\n` : ''}${epochSql};\nCOMMIT`);
        epoch = epochOf(results);
      } else {
        // The references first, as in the one round trip above: the hook locks rule rows, and a
        // delete of an event locks the event before its rules (their cascade), so holding the
        // event after the rules would deadlock with it.
        if (hold !== '') await client.query(hold);
        if (plan.marks.size > 0) await this.sequences.write(client, plan.marks);
        after = await this.runHook(client, work);
        const counted = await client.query(`${epochSql};\nCOMMIT`);
        epoch = epochOf(counted);
      }
      const committed = performance.now();
      return { ms: committed - started, epoch, after, timings: { taken, begun, copied, ordered, committed } };
    } catch (err) {
      if (!(err instanceof PredecessorFailed)) broken = err instanceof Error ? err : new Error(String(err));
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      // A connection that failed mid-COPY is discarded rather than reused.
      release(broken);
    }
  }

  /**
   * The commit hook's work, in this transaction. A failure of its own (a bug, a rule deleted
   * meanwhile) is rolled back to a savepoint and logged: rules never fail an ingest. A lost
   * connection fails the batch as any statement would.
   */
  private async runHook(client: pg.PoolClient, work: NonNullable<ReturnType<CommitHook['prepare']>>): Promise<(() => void) | undefined> {
    await client.query('SAVEPOINT commit_hook');
    try {
      await work.write((text, params) => client.query(text, params));
      await client.query('RELEASE SAVEPOINT commit_hook');
      return () => work.committed();
    } catch (err) {
      if (isConnectionError(err)) throw err;
      await client.query('ROLLBACK TO SAVEPOINT commit_hook');
      this.log.error({ err }, 'the commit hook (rules) failed; the batch commits without its triggers');
      return undefined;
    }
  }

  /** After COMMIT: from here on every point of the batch survives a crash of the hub. */
  private finish(batch: PendingIngest[], plan: Plan, ms: number, epoch: number, timings: Timings): void {
    this.traceBatch(batch, timings);
    this.sequences.committedMarks(plan.marks);
    const { rows } = plan;
    this.metrics.copySeconds.observe(ms / 1000);
    this.metrics.copyBatchRows.observe(rows);
    this.metrics.ingestRows.inc(rows);
    if (rows > 0) this.rowsPerMs = 0.8 * this.rowsPerMs + 0.2 * (rows / Math.max(ms, 0.1));
    this.backoffMs = 0;
    if (this.unavailableSince !== undefined) {
      this.log.info({ downMs: Date.now() - this.unavailableSince }, 'database back; ingest resumed');
      this.unavailableSince = undefined;
    }
    this.queue.release(batch);
    this.metrics.ingestMessages.inc({ outcome: 'committed' }, plan.fresh.length);
    this.metrics.ingestMessages.inc({ outcome: 'duplicate' }, plan.duplicates.length);
    for (const m of batch) m.settled = true;
    for (const m of plan.fresh) m.resolve({ accepted: m.points.count, seq: m.points.seq });
    for (const m of plan.duplicates) m.resolve({ accepted: 0, seq: m.points.seq, duplicate: true });
    if (plan.fresh.length > 0) this.onCommitted(plan.fresh.map((m) => m.points), epoch);
  }

  /** Each message's stages up to its commit (the ack's stage is the ingest op's). */
  private traceBatch(batch: readonly PendingIngest[], t: Timings): void {
    const { trace } = this;
    for (const m of batch) {
      if (m.queuedAt === undefined) continue;
      trace.record('queued', t.taken - m.queuedAt);
      trace.record('begin', t.begun - t.taken);
      trace.record('copy', t.copied - t.begun);
      trace.record('order', t.ordered - t.copied);
      trace.record('commit', t.committed - t.ordered);
      m.committedAt = t.committed;
    }
  }

  /** Deals with the failed batches of a drained pipeline, in queue order. */
  private async recover(): Promise<void> {
    const failures = this.failures.sort((a, b) => a.index - b.index);
    this.failures = [];
    this.tentative.clear();
    // Any of them may have committed just before its connection died: read their marks again.
    for (const f of failures) this.sequences.forget(owners(f.batch).keys());
    const unavailable = failures.find((f) => isConnectionError(f.error));
    if (unavailable !== undefined) return this.unavailable(failures.flatMap((f) => f.batch), unavailable.error);
    for (let i = 0; i < failures.length; i++) {
      const { batch, error } = failures[i] as Failure;
      try {
        if (error instanceof PredecessorFailed) {
          this.metrics.copyFailures.inc({ reason: 'predecessor' });
          await this.writeAgain(batch);
        }
        else {
          this.metrics.copyFailures.inc({ reason: findPgError(error)?.code.startsWith('23') === true ? 'constraint' : 'other' });
          await this.isolate(batch, error);
        }
      } catch (err) {
        // Whatever failed while dealing with the failures (the database again, or a catalog
        // reload cancelled), the writer's loop must go on: what is left goes back, with backoff.
        if (!isConnectionError(err)) this.log.error({ err }, 'recovering failed batches failed; they are kept for retry');
        return this.unavailable(failures.slice(i).flatMap((f) => f.batch), err);
      }
    }
  }

  /**
   * Writes again a batch that failed only because the one before it did. It can now fail on its
   * own (its content or a seq owner changed meanwhile): then it is isolated like any refused
   * batch, never thrown out of the writer's loop (which would stop ingest).
   */
  private async writeAgain(batch: PendingIngest[]): Promise<void> {
    try {
      await this.writeAlone(batch);
    } catch (err) {
      if (isConnectionError(err)) throw err;
      this.metrics.copyFailures.inc({ reason: findPgError(err)?.code.startsWith('23') === true ? 'constraint' : 'other' });
      await this.isolate(batch, err);
    }
  }

  /** The database is gone: put back what is not settled, in order, and back off. */
  private unavailable(messages: PendingIngest[], error: unknown): void {
    this.metrics.copyFailures.inc({ reason: 'unavailable' });
    this.unavailableSince ??= Date.now();
    this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 100), MAX_BACKOFF_MS);
    const unsettled = messages.filter((m) => m.settled !== true);
    this.sequences.forget(owners(unsettled).keys());
    this.log.warn({ err: error, retryMs: this.backoffMs, messages: unsettled.length }, 'database unavailable; batches kept for retry');
    this.queue.putBack(unsettled);
  }

  /** Writes one batch on its own (the pipeline is idle). Throws what the transaction throws. */
  private async writeAlone(batch: PendingIngest[]): Promise<void> {
    await this.sequences.ensure(this.pool, owners(batch).values());
    const plan = this.plan(batch);
    try {
      const { ms, epoch, after, timings } = await this.transaction(plan, Promise.resolve(true));
      this.finish(batch, plan, ms, epoch, timings);
      after?.();
    } finally {
      this.tentative.clear();
    }
  }

  /**
   * A batch failed for its content: reload the catalog, refuse the messages that are now
   * invalid, then retry the rest, halving until each bad message is refused on its own.
   */
  private async isolate(batch: PendingIngest[], cause: unknown): Promise<void> {
    this.log.warn({ err: cause, messages: batch.length }, 'COPY batch refused; isolating the bad messages');
    // Read whole: a notice may have been lost, and this is rare.
    await Promise.all([this.catalog.readWhole('events'), this.catalog.readWhole('channel_mappings'), this.catalog.readWhole('experiments')]);
    const valid: PendingIngest[] = [];
    for (const message of batch) {
      const problem = this.recheck(message);
      if (problem === null) valid.push(message);
      else this.refuse(message, problem);
    }
    await this.retryInHalves(valid);
  }

  private async retryInHalves(batch: PendingIngest[]): Promise<void> {
    if (batch.length === 0) return;
    try {
      await this.writeAlone(batch);
    } catch (err) {
      if (isConnectionError(err)) throw err;
      if (batch.length === 1) {
        const message = batch[0] as PendingIngest;
        // A seq owner deleted meanwhile (its token or user): store the points without a mark.
        if (message.owner !== null && findPgError(err)?.constraint?.startsWith('ingest_sequences') === true) {
          message.owner = null;
          return this.retryInHalves(batch);
        }
        this.log.error({ err }, 'ingest message refused by the database');
        this.refuse(message, mapDbError(err, 'Datapoint'));
        return;
      }
      const half = Math.ceil(batch.length / 2);
      await this.retryInHalves(batch.slice(0, half));
      await this.retryInHalves(batch.slice(half));
    }
  }

  /** Is a queued message still valid against the (reloaded) catalog? */
  private recheck(message: PendingIngest): HubError | null {
    const { events, count } = message.points;
    for (let i = 0; i < count; i++) {
      const ref = events[i] as EventRef;
      if (this.catalog.event(ref.id) === undefined) {
        return invalid([{ path: `/points/${i}/event`, message: `Event '${ref.id}' not found` }], 'Invalid points; nothing was stored');
      }
      if (message.pluginInstancePublicId !== null && !this.catalog.instanceHasEvent(message.pluginInstancePublicId, ref.id)) {
        return invalid([{ path: `/points/${i}`, message: 'is not mapped to this device' }], 'Invalid points; nothing was stored');
      }
    }
    return null;
  }

  private refuse(message: PendingIngest, error: HubError): void {
    message.settled = true;
    this.queue.release([message]);
    this.metrics.ingestMessages.inc({ outcome: error.code === 'invalid' ? 'invalid' : 'failed' });
    message.reject(error);
  }
}

/** One turn of the event loop: lets frames already read reach the queue. */
function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The distinct seq owners of some messages, by key. */
function owners(batch: readonly PendingIngest[]): Map<string, SeqOwner> {
  const out = new Map<string, SeqOwner>();
  for (const m of batch) if (m.owner !== null && m.points.seq !== null) out.set(m.owner.key, m.owner);
  return out;
}

/** The senders (queue lanes) of a batch's messages. */
function sendersOf(batch: readonly PendingIngest[]): Set<string> {
  const out = new Set<string>();
  for (const m of batch) out.add(m.sender ?? '');
  return out;
}

/** Resolves when the runner finishes its next task. */
function nextSettled(runner: PQueue): Promise<void> {
  return new Promise((resolve) => runner.once('next', () => resolve()));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
