/**
 * The device side of ingest, done right once: points are buffered and batched into `ingest`
 * messages (at most `maxPoints` each, or whatever is waiting after `lingerMs`), numbered with
 * `seq`, sent with at most `window` awaiting their ack, and sent again until acknowledged.
 *
 * Why it never loses an acknowledged point nor stores one twice (PROTOCOL.md §6):
 * - a message whose outcome is unknown (the socket dropped, the ack never came) is sent again
 *   with the same `seq` on the next socket, in `seq` order; the hub stores a `seq` at most once;
 * - a message refused with `503 busy` or `429` was not stored: it is sent again after
 *   `retry_after_ms`, under a new, higher `seq`, because the hub's mark is a high-water mark and
 *   later messages may already be committed above the old one;
 * - seqs come from a {@link SeqStore} in reserved blocks, so a restarted device never reuses one.
 */
import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { Connection } from './connection.js';
import { ClosedError, HubRequestError, TimeoutError } from './errors.js';
import { MemorySeqStore, type SeqStore } from './seq-store.js';
import type { IngestPoint, IngestReply } from './wire-types.js';

export interface ProducerOptions {
  /** Most points in one message (default 1000; the hub's limit is `HUB_MAX_BATCH_POINTS`). */
  maxPoints?: number;
  /** How long a point may wait for more to fill its message (default 5 ms). */
  lingerMs?: number;
  /** Messages sent and not yet acknowledged (default 8). */
  window?: number;
  /** Points held (buffered or awaiting their ack) before `send` waits or fails (default 100 000). */
  maxBufferedPoints?: number;
  /** When the buffer is full: `wait` (default) until there is room, or `fail` with a {@link BufferFullError}. */
  whenFull?: 'wait' | 'fail';
  /** Where the last `seq` is kept (default: memory, starting from the clock). */
  seqStore?: SeqStore;
  /** Seqs reserved per write to the store (default 1000). */
  seqBlock?: number;
  /** A message without an ack this long is taken as lost: the socket is replaced (default 60 s). */
  ackTimeoutMs?: number;
  /** Back-off for `busy` / `429` replies without `retry_after_ms`, and growth of repeated ones. */
  busyBackoff?: BackoffOptions;
}

/** `send` with `whenFull: 'fail'` and no room in the buffer. */
export class BufferFullError extends Error {
  constructor(readonly held: number, readonly limit: number) {
    super(`the producer holds ${held} points (limit ${limit}); try again after some are acknowledged`);
    this.name = 'BufferFullError';
  }
}

/**
 * The hub already had a higher `seq` for this token than one the producer had never used: the
 * message was not stored. One producer per token (seq is kept per API token, or per user).
 */
export class SeqConflictError extends Error {
  constructor(readonly seq: number) {
    super(`seq ${seq} was already used for this token (another producer on the same token, or a seq store that went back); the message was not stored`);
    this.name = 'SeqConflictError';
  }
}

export interface AckEvent {
  seq: number;
  points: readonly IngestPoint[];
  /** The hub had stored this `seq` already (an earlier send whose ack was lost). */
  duplicate: boolean;
}

export interface ProducerStats {
  /** Points given to `send`. */
  sent: number;
  /** Points acknowledged (stored). */
  acked: number;
  /** Points refused for good (invalid, forbidden, too large), reported through `on('error')`. */
  failed: number;
  /** Messages sent again after a reconnect or timeout. */
  resent: number;
  /** `busy` / `429` refusals that were retried. */
  busy: number;
  /** Acks that said `duplicate` (a resend of a message already stored). */
  duplicates: number;
  /** Points waiting to be sent, and messages awaiting their ack. */
  buffered: number;
  inFlight: number;
}

interface Message {
  seq: number;
  points: IngestPoint[];
  /** The connection generation it was last sent on. */
  gen: number;
  /** Refused as busy: needs a new seq before it is sent again. */
  renumber: boolean;
  sentBefore: boolean;
  /** Times sent under its current seq. */
  tries: number;
}

interface Chunk {
  points: IngestPoint[];
  at: number;
}

type Listener<T> = (value: T) => void;

export class Producer {
  private readonly maxPoints: number;
  private readonly lingerMs: number;
  private readonly window: number;
  /** The window in use: halved by each busy refusal, grown back by one per ack. */
  private sendWindow: number;
  private readonly maxBuffered: number;
  private readonly whenFull: 'wait' | 'fail';
  private readonly store: SeqStore;
  private readonly seqBlock: number;
  private readonly ackTimeoutMs: number;
  private readonly busyBackoff: BackoffOptions;

  private readonly chunks: Chunk[] = [];
  private chunkOffset = 0;
  private bufferedCount = 0;
  /** Messages cut but not acknowledged, by seq (for stats and `held`). */
  private unsettledPoints = 0;
  private readonly retryQueue: Message[] = [];
  /** Messages sent on the current socket and not yet answered. */
  private readonly inflightSet = new Set<Message>();
  private gen = 0;
  private nextSeq = -1;
  private reservedUpTo = -1;
  private readonly ready: Promise<void>;
  private pausedUntil = 0;
  private busyStreak = 0;
  private pumping = false;
  private again = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private accepted = 0;
  private cut = 0;
  private settled = 0;
  private closedError: Error | undefined;
  private readonly flushes: { target: number; resolve(): void; reject(err: Error): void }[] = [];
  private readonly roomWaiters: { need: number; resolve(): void; reject(err: Error): void }[] = [];
  private readonly ackListeners = new Set<Listener<AckEvent>>();
  private readonly errorListeners = new Set<(error: Error, points: readonly IngestPoint[]) => void>();
  private readonly unsubscribe: (() => void)[];
  private readonly counts = { acked: 0, failed: 0, resent: 0, busy: 0, duplicates: 0 };

  constructor(
    private readonly connection: Connection,
    options: ProducerOptions = {},
  ) {
    this.maxPoints = options.maxPoints ?? 1000;
    this.lingerMs = options.lingerMs ?? 5;
    this.window = Math.max(1, options.window ?? 8);
    this.sendWindow = this.window;
    this.maxBuffered = Math.max(this.maxPoints, options.maxBufferedPoints ?? 100_000);
    this.whenFull = options.whenFull ?? 'wait';
    this.store = options.seqStore ?? new MemorySeqStore();
    this.seqBlock = Math.max(1, options.seqBlock ?? 1000);
    this.ackTimeoutMs = options.ackTimeoutMs ?? 60_000;
    this.busyBackoff = options.busyBackoff ?? { initialDelayMs: 100, maxDelayMs: 5_000 };
    this.ready = Promise.resolve(this.store.load()).then((last) => {
      this.nextSeq = last === undefined ? Date.now() * 1000 : last + 1;
      this.reservedUpTo = this.nextSeq - 1;
    });
    this.ready.catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))));
    this.unsubscribe = [
      connection.on('open', () => this.pump()),
      connection.on('disconnect', () => this.requeueInflight()),
      connection.on('closed', (ev) => this.fail(ev.error ?? new ClosedError('the connection was closed'))),
    ];
  }

  /**
   * Buffers points for sending. Resolves once they are buffered (not acknowledged: see
   * {@link flush} and `on('ack')`); waits for room, or throws {@link BufferFullError}, when the
   * producer already holds `maxBufferedPoints`.
   */
  async send(points: IngestPoint | readonly IngestPoint[]): Promise<void> {
    const list = (Array.isArray(points) ? points : [points]) as IngestPoint[];
    if (list.length === 0) return;
    if (this.closedError !== undefined) throw this.closedError;
    if (list.length > this.maxPoints) {
      for (let i = 0; i < list.length; i += this.maxPoints) await this.send(list.slice(i, i + this.maxPoints));
      return;
    }
    if (this.held() + list.length > this.maxBuffered || this.roomWaiters.length > 0) {
      if (this.whenFull === 'fail') throw new BufferFullError(this.held(), this.maxBuffered);
      await new Promise<void>((resolve, reject) => this.roomWaiters.push({ need: list.length, resolve, reject }));
      if (this.closedError !== undefined) throw this.closedError;
    }
    this.chunks.push({ points: list, at: Date.now() });
    this.bufferedCount += list.length;
    this.accepted += list.length;
    this.pump();
  }

  /** Resolves when every point given to `send` before this call is acknowledged (or refused for good). */
  flush(): Promise<void> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    if (this.settled >= this.accepted) return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => this.flushes.push({ target: this.accepted, resolve, reject }));
    this.pump();
    return promise;
  }

  /** Flushes, then stops listening to the connection (which stays open: it is the caller's). */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      for (const off of this.unsubscribe) off();
      clearTimeout(this.timer);
    }
  }

  /** Each acknowledged message, with its points. */
  onAck(listener: Listener<AckEvent>): () => void {
    this.ackListeners.add(listener);
    return () => this.ackListeners.delete(listener);
  }

  /** Points refused for good (`422`, `413`, `403`…), with the hub's error. */
  onError(listener: (error: Error, points: readonly IngestPoint[]) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  get stats(): ProducerStats {
    return { sent: this.accepted, ...this.counts, buffered: this.bufferedCount, inFlight: this.inflightSet.size };
  }

  private held(): number {
    return this.bufferedCount + this.unsettledPoints;
  }

  private pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    this.pumpLoop().catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))));
  }

  private async pumpLoop(): Promise<void> {
    try {
      if (this.nextSeq < 0) await this.ready;
      do {
        this.again = false;
        while (this.closedError === undefined && this.connection.isOpen && this.inflightSet.size < this.sendWindow) {
          const now = Date.now();
          if (now < this.pausedUntil) {
            this.wakeAt(this.pausedUntil);
            break;
          }
          let message = this.retryQueue[0];
          if (message !== undefined) {
            this.retryQueue.shift();
            if (message.renumber) {
              message.seq = this.nextSeq <= this.reservedUpTo ? this.nextSeq++ : await this.allocateSeq();
              message.renumber = false;
              message.tries = 0;
            }
          } else {
            if (this.bufferedCount === 0) break;
            const head = this.chunks[0] as Chunk;
            const flushing = this.flushes.length > 0 && this.cut < (this.flushes[this.flushes.length - 1] as { target: number }).target;
            if (this.bufferedCount < this.maxPoints && !flushing && now < head.at + this.lingerMs) {
              this.wakeAt(head.at + this.lingerMs);
              break;
            }
            const seq = this.nextSeq <= this.reservedUpTo ? this.nextSeq++ : await this.allocateSeq();
            message = { seq, points: this.take(), gen: 0, renumber: false, sentBefore: false, tries: 0 };
          }
          if (!this.connection.isOpen) {
            this.enqueueRetry(message);
            break;
          }
          this.transmit(message);
        }
      } while (this.again);
    } finally {
      // In the same synchronous step as the last check of `again` (no await between them): a
      // pump() from now on starts a new loop instead of being lost.
      this.pumping = false;
    }
  }

  private wakeAt(at: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.pump();
      },
      Math.max(0, at - Date.now()),
    );
  }

  private async allocateSeq(): Promise<number> {
    if (this.nextSeq > this.reservedUpTo) {
      const upTo = this.nextSeq + this.seqBlock - 1;
      await this.store.save(upTo);
      this.reservedUpTo = Math.max(this.reservedUpTo, upTo);
    }
    return this.nextSeq++;
  }

  /** The next message's points from the head of the buffer (no copy when a whole chunk fits). */
  private take(): IngestPoint[] {
    let out: IngestPoint[] | undefined;
    let room = this.maxPoints;
    while (room > 0 && this.chunks.length > 0) {
      const chunk = this.chunks[0] as Chunk;
      const left = chunk.points.length - this.chunkOffset;
      if (out === undefined && this.chunkOffset === 0 && left <= room) {
        out = chunk.points;
        this.chunks.shift();
        room -= left;
        continue;
      }
      out = out === undefined ? [] : out === chunk.points ? [...out] : out;
      const n = Math.min(room, left);
      for (let i = 0; i < n; i++) out.push(chunk.points[this.chunkOffset + i] as IngestPoint);
      room -= n;
      if (n === left) {
        this.chunks.shift();
        this.chunkOffset = 0;
      } else {
        this.chunkOffset += n;
      }
    }
    const points = out ?? [];
    this.bufferedCount -= points.length;
    this.unsettledPoints += points.length;
    this.cut += points.length;
    return points;
  }

  private transmit(message: Message): void {
    if (message.sentBefore) this.counts.resent++;
    message.sentBefore = true;
    message.tries++;
    message.gen = this.gen;
    this.inflightSet.add(message);
    this.connection
      .request<IngestReply>('ingest', { seq: message.seq, points: message.points }, { timeoutMs: this.ackTimeoutMs, waitForOpen: false })
      .then(
        (reply) => this.acked(message, reply),
        (err: unknown) => this.refused(message, err instanceof Error ? err : new Error(String(err))),
      );
  }

  private acked(message: Message, reply: IngestReply): void {
    if (message.gen !== this.gen || !this.inflightSet.delete(message)) return;
    this.busyStreak = 0;
    if (this.sendWindow < this.window) this.sendWindow++;
    const duplicate = reply.duplicate === true;
    if (duplicate && message.tries === 1) {
      // Never sent under this seq before, yet the hub has a higher mark: nothing was stored.
      // Another producer shares this token, or the seq store went back. Say so; never hide it.
      this.counts.failed += message.points.length;
      this.settle(message.points.length);
      const err = new SeqConflictError(message.seq);
      for (const listener of this.errorListeners) listener(err, message.points);
      this.pump();
      return;
    }
    if (duplicate) this.counts.duplicates++;
    this.counts.acked += message.points.length;
    this.settle(message.points.length);
    for (const listener of this.ackListeners) listener({ seq: message.seq, points: message.points, duplicate });
    this.pump();
  }

  private refused(message: Message, err: Error): void {
    if (message.gen !== this.gen || !this.inflightSet.has(message)) return; // its socket is gone: queued again
    if (err instanceof HubRequestError && err.retryable) {
      this.inflightSet.delete(message);
      this.counts.busy++;
      // Messages sent in the same burst are refused together: only a refusal after the pause
      // has ended grows the back-off, and each one halves the window (raised again by acks).
      this.sendWindow = Math.max(1, Math.floor(this.sendWindow / 2));
      const now = Date.now();
      if (now >= this.pausedUntil) {
        const wait = err.retryAfterMs ?? backoffDelay(this.busyStreak, this.busyBackoff);
        const grown = Math.min(this.busyBackoff.maxDelayMs ?? 5_000, wait * 1.5 ** Math.min(this.busyStreak, 8));
        this.busyStreak++;
        // Jitter upwards only: never sooner than the hub asked.
        this.pausedUntil = now + grown * (1 + 0.25 * Math.random());
      }
      message.renumber = true;
      this.enqueueRetry(message);
      this.pump();
    } else if (err instanceof TimeoutError) {
      // The ack may still come on this socket, or never: replace the socket and resend all.
      this.connection.reconnectNow();
    } else if (err instanceof ClosedError) {
      // Not sent (the socket dropped meanwhile): send it on the next one. If the connection has
      // ended for good, `closed` has failed the producer already.
      this.inflightSet.delete(message);
      this.enqueueRetry(message);
    } else {
      this.inflightSet.delete(message);
      this.counts.failed += message.points.length;
      this.settle(message.points.length);
      for (const listener of this.errorListeners) listener(err, message.points);
      this.pump();
    }
  }

  /** Keeps the retry queue in send order: by seq, renumbered messages last. */
  private enqueueRetry(message: Message): void {
    const key = (m: Message): number => (m.renumber ? Number.MAX_SAFE_INTEGER : m.seq);
    let i = this.retryQueue.length;
    while (i > 0 && key(this.retryQueue[i - 1] as Message) > key(message)) i--;
    this.retryQueue.splice(i, 0, message);
  }

  /** The socket dropped: every message awaiting its ack is sent again on the next one. */
  private requeueInflight(): void {
    const lost = [...this.inflightSet];
    this.inflightSet.clear();
    this.gen++;
    for (const m of lost) this.enqueueRetry(m);
  }

  private settle(points: number): void {
    this.unsettledPoints -= points;
    this.settled += points;
    while (this.flushes.length > 0 && (this.flushes[0] as { target: number }).target <= this.settled) this.flushes.shift()?.resolve();
    while (this.roomWaiters.length > 0 && this.held() + (this.roomWaiters[0] as { need: number }).need <= this.maxBuffered) {
      this.roomWaiters.shift()?.resolve();
    }
  }

  private fail(err: Error): void {
    if (this.closedError !== undefined) return;
    this.closedError = err;
    clearTimeout(this.timer);
    for (const f of this.flushes.splice(0)) f.reject(err);
    for (const w of this.roomWaiters.splice(0)) w.reject(err);
  }
}
