/**
 * The COPY writer: takes batches of many messages from the bounded queue and writes each in one
 * transaction (binary COPY of the rows, then the `seq` marks), on a connection of its own.
 * Messages are acknowledged only after COMMIT returns.
 *
 * Failures never lose an acknowledged point and never acknowledge a lost one:
 * - the database unavailable: the batch goes back to the front of the queue, the writer retries
 *   with backoff (the queue fills, devices get `busy`), and the marks of the batch's owners are
 *   read again (a COMMIT cut off mid-way may have happened);
 * - a constraint (an event deleted since validation, say): the catalog is reloaded, the batch's
 *   messages are checked again and those now invalid refused; what still fails is halved until
 *   the one bad message is found and refused alone.
 */
import { once } from 'node:events';
import PQueue from 'p-queue';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Logger } from 'pino';
import { findPgError, isConnectionError, mapDbError } from '../db/db-errors.js';
import { checkout } from '../db/pool.js';
import { HubError, invalid } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Catalog, EventRef } from './catalog.js';
import { COPY_DATAPOINTS_SQL, encodeCopy } from './copy-encoder.js';
import type { IngestQueue, PendingIngest, SeqOwner } from './queue.js';
import type { SequenceStore } from './sequences.js';
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
  /** How long a small batch waits for more messages. */
  readonly lingerMs: number;
}

export const DEFAULT_WRITER_OPTIONS: CopyWriterOptions = { maxBatchRows: 50_000, lingerMs: 1 };

const MAX_BACKOFF_MS = 5_000;

export class CopyWriter {
  private readonly ids = new Uuid7Generator();
  /** Runs the batches, one at a time: commit order is queue order, which keeps `seq` exact. */
  private readonly runner = new PQueue({ concurrency: 1 });
  private running = false;
  private loop: Promise<void> | undefined;
  private backoffMs = 0;
  /** Set while the database is unreachable; cleared by the next commit. */
  unavailableSince: number | undefined;
  /** Committed rows per millisecond, smoothed: the basis of `retry_after_ms`. */
  rowsPerMs = 50;

  constructor(
    private readonly pool: pg.Pool,
    private readonly queue: IngestQueue,
    private readonly sequences: SequenceStore,
    private readonly catalog: Catalog,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly onCommitted: (messages: readonly CommittedPoints[]) => void,
    private readonly options: CopyWriterOptions = DEFAULT_WRITER_OPTIONS,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Waits until the queue is empty (or `timeoutMs` passes), then stops. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.depth > 0 && Date.now() < deadline) await sleep(10);
    const drained = this.queue.depth === 0;
    this.running = false;
    this.queue.wake();
    await this.loop;
    return drained;
  }

  private async run(): Promise<void> {
    while (this.running) {
      await this.queue.whenNonEmpty();
      if (!this.running) break;
      // A small batch waits a moment for company; a busy queue is written at once.
      if (this.options.lingerMs > 0 && this.queue.waiting < this.options.maxBatchRows) await sleep(this.options.lingerMs);
      const batch = this.queue.take(this.options.maxBatchRows);
      if (batch.length === 0) continue;
      await this.runner.add(() => this.writeWithRecovery(batch));
      if (this.backoffMs > 0) await sleep(this.backoffMs);
    }
  }

  /** Writes a batch; on failure decides what to retry, refuse or put back. */
  private async writeWithRecovery(batch: PendingIngest[]): Promise<void> {
    try {
      await this.write(batch);
      this.backoffMs = 0;
      if (this.unavailableSince !== undefined) {
        this.log.info({ downMs: Date.now() - this.unavailableSince }, 'database back; ingest resumed');
        this.unavailableSince = undefined;
      }
    } catch (err) {
      if (isConnectionError(err)) {
        this.metrics.copyFailures.inc({ reason: 'unavailable' });
        this.unavailableSince ??= Date.now();
        this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 100), MAX_BACKOFF_MS);
        this.log.warn({ err, retryMs: this.backoffMs, messages: batch.length }, 'database unavailable; batch kept for retry');
        // The COMMIT may have happened before the connection died: read the marks again.
        this.sequences.forget(owners(batch).keys());
        this.queue.putBack(batch);
        return;
      }
      this.metrics.copyFailures.inc({ reason: findPgError(err)?.code.startsWith('23') === true ? 'constraint' : 'other' });
      await this.isolate(batch, err);
    }
  }

  /**
   * A batch failed for its content: reload the catalog, refuse the messages that are now
   * invalid, then retry the rest, halving until each bad message is refused on its own.
   */
  private async isolate(batch: PendingIngest[], cause: unknown): Promise<void> {
    this.log.warn({ err: cause, messages: batch.length }, 'COPY batch refused; isolating the bad messages');
    await Promise.all([this.catalog.reload('events'), this.catalog.reload('channel_mappings'), this.catalog.reload('experiments')]).catch(
      () => undefined,
    );
    const valid: PendingIngest[] = [];
    for (const message of batch) {
      const problem = this.recheck(message);
      if (problem === null) valid.push(message);
      else this.refuse(message, problem);
    }
    await this.retryInHalves(valid, cause);
  }

  private async retryInHalves(batch: PendingIngest[], cause: unknown): Promise<void> {
    if (batch.length === 0) return;
    try {
      await this.write(batch);
    } catch (err) {
      if (isConnectionError(err)) {
        this.sequences.forget(owners(batch).keys());
        this.queue.putBack(batch);
        return;
      }
      if (batch.length === 1) {
        const message = batch[0] as PendingIngest;
        // A seq owner deleted meanwhile (its token or user): store the points without a mark.
        if (message.owner !== null && findPgError(err)?.constraint?.startsWith('ingest_sequences') === true) {
          message.owner = null;
          return this.retryInHalves(batch, cause);
        }
        this.log.error({ err }, 'ingest message refused by the database');
        this.refuse(message, mapDbError(err, 'Datapoint'));
        return;
      }
      const half = Math.ceil(batch.length / 2);
      await this.retryInHalves(batch.slice(0, half), err);
      await this.retryInHalves(batch.slice(half), err);
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
    this.queue.release([message]);
    this.metrics.ingestMessages.inc({ outcome: error.code === 'invalid' ? 'invalid' : 'failed' });
    message.reject(error);
  }

  /** One transaction: COPY the new rows, write the seq marks, COMMIT; then acknowledge. */
  private async write(batch: PendingIngest[]): Promise<void> {
    const started = performance.now();
    const { client, release } = await checkout(this.pool);
    let broken: Error | undefined;
    try {
      await this.sequences.ensure(client, owners(batch).values());
      // Decide duplicates in queue order against the committed marks and the batch's own.
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
        const last = Math.max(this.sequences.last(owner.key), marks.get(owner.key)?.seq ?? -1);
        if (seq <= last) duplicates.push(message);
        else {
          marks.set(owner.key, { owner, seq });
          fresh.push(message);
        }
      }
      const rows = fresh.reduce((n, m) => n + m.points.count, 0);
      await client.query('BEGIN');
      if (rows > 0) {
        const experiment = this.catalog.runningExperiment();
        const payload = encodeCopy(
          fresh.map((m) => ({ count: m.points.count, events: m.points.eventBytes, values: m.points.values, ts: m.points.ts })),
          experiment?.bytes ?? null,
          this.ids,
        );
        const stream = client.query(copyFrom(COPY_DATAPOINTS_SQL));
        const done = once(stream, 'finish');
        stream.end(payload);
        await done;
      }
      if (marks.size > 0) await this.sequences.write(client, marks);
      await client.query('COMMIT');

      // Committed: from here on every point of `fresh` survives a crash of the hub.
      this.sequences.committedMarks(marks);
      const ms = performance.now() - started;
      this.metrics.copySeconds.observe(ms / 1000);
      this.metrics.copyBatchRows.observe(rows);
      this.metrics.ingestRows.inc(rows);
      if (rows > 0) this.rowsPerMs = 0.8 * this.rowsPerMs + 0.2 * (rows / Math.max(ms, 0.1));
      this.queue.release(batch);
      this.metrics.ingestMessages.inc({ outcome: 'committed' }, fresh.length);
      this.metrics.ingestMessages.inc({ outcome: 'duplicate' }, duplicates.length);
      for (const m of fresh) m.resolve({ accepted: m.points.count, seq: m.points.seq });
      for (const m of duplicates) m.resolve({ accepted: 0, seq: m.points.seq, duplicate: true });
      if (fresh.length > 0) this.onCommitted(fresh.map((m) => m.points));
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      // A connection that failed mid-COPY is discarded rather than reused.
      release(broken);
    }
  }
}

/** The distinct seq owners of a batch, by key. */
function owners(batch: readonly PendingIngest[]): Map<string, SeqOwner> {
  const out = new Map<string, SeqOwner>();
  for (const m of batch) if (m.owner !== null && m.points.seq !== null) out.set(m.owner.key, m.owner);
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
