/**
 * The `ingest` op: validate (all or nothing), queue (or `503 busy`: the queue is full or the
 * sender holds its share; `429`: too many of the sender's messages in flight), and answer once
 * committed, in order per connection.
 * @see PROTOCOL.md §6
 */
import type { Principal } from '../auth/principal.js';
import { mapDbError } from '../db/db-errors.js';
import { HubError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { ConnectionState, OpDef } from '../protocol/ops.js';
import type { Catalog } from './catalog.js';
import type { CopyWriter } from './copy-writer.js';
import type { IngestAck, IngestQueue, OfferOutcome, PendingIngest } from './queue.js';
import { keyOf } from './sequences.js';
import { validateIngest } from './validate.js';

/** The connection-state key of a connection's last ingest reply (see `ordered`). */
const TAIL = 'ingest.tail';

/** An ingest frame's start as clients write it (`{"id":<n>,"op":"ingest",…`): its id, without parsing the rest. */
const INGEST_FRAME_START = /^\{\s*"id"\s*:\s*(\d{1,15})\s*,\s*"op"\s*:\s*"ingest"\s*,/;
/** Senders told to wait are remembered at most this many at once (expired ones are swept past it). */
const MAX_WAITING_SENDERS = 10_000;

export class IngestService {
  private accepting = true;
  /**
   * Senders refused for the queue (busy or too many in flight), until when they were told to wait
   * (`retry_after_ms`). A frame of theirs before then is refused without being decoded
   * ({@link refuseUndecoded}): a device that ignores `retry_after_ms` and resends at once (a
   * flood) costs the hub a few string comparisons per frame instead of a JSON parse of
   * thousands of points — CPU that everyone else's ingest needs.
   */
  private readonly waitUntil = new Map<string, number>();

  constructor(
    private readonly queue: IngestQueue,
    private readonly writer: CopyWriter,
    private readonly catalog: Catalog,
    private readonly metrics: Metrics,
    private readonly maxBatchPoints: number,
  ) {}

  /** Refuses new ingest (`busy`) from now on: shutdown has begun. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /**
   * Validates and queues one message. Throws at once when it is invalid or the queue is full;
   * otherwise returns the promise of its ack, settled once committed (or refused by the database).
   */
  async submit(data: Readonly<Record<string, unknown>>, principal: Principal): Promise<{ committed: Promise<IngestAck>; pending: PendingIngest }> {
    const receivedAt = performance.now();
    if (!this.accepting) throw new HubError('busy', 'The hub is shutting down; send it again to another hub or later', { retryAfterMs: 1000 });
    const apiToken = principal.kind === 'api_token' ? principal.tokenId : null;
    const user = principal.user.public_id;
    const sender = keyOf(apiToken, user);
    // A message that could not be queued anyway is refused before it is validated point by
    // point: a flooding sender's surplus then costs the hub almost nothing.
    const claimed = Array.isArray(data.points) ? data.points.length : 0;
    const early = claimed > 0 && claimed <= this.maxBatchPoints ? this.queue.refusalFor(sender, claimed) : null;
    if (early !== null) throw this.refusal(early, sender, claimed);
    let result = validateIngest(data, principal, this.catalog, this.maxBatchPoints, Date.now(), false);
    if (result.kind === 'unknown') {
      // An event or channel we do not know may be younger than our catalog: look once more.
      try {
        await Promise.all([this.catalog.reload('events'), this.catalog.reload('channel_mappings')]);
      } catch (err) {
        throw mapDbError(err, 'Event');
      }
      result = validateIngest(data, principal, this.catalog, this.maxBatchPoints, Date.now(), true);
    }
    if (result.kind === 'error') {
      this.metrics.ingestMessages.inc({ outcome: result.error.code });
      throw result.error;
    }
    if (result.kind !== 'ok') throw new HubError('internal');
    const { points } = result;
    let pending: PendingIngest | undefined;
    const committed = new Promise<IngestAck>((resolve, reject) => {
      pending = {
        points,
        owner: { key: sender, apiTokenPublicId: apiToken, userPublicId: apiToken === null ? user : null },
        sender,
        pluginInstancePublicId: principal.pluginInstancePublicId,
        resolve,
        reject,
        receivedAt,
      };
    });
    // Its reply is attached only when the connection's earlier acks are out; until then a
    // refusal must not count as an unhandled rejection (which would end the process).
    committed.catch(() => undefined);
    const message = pending as PendingIngest;
    message.queuedAt = performance.now();
    this.writer.trace.record('validate', message.queuedAt - receivedAt);
    const outcome = this.queue.tryOffer(message);
    if (outcome !== 'accepted') throw this.refusal(outcome, sender, points.count);
    return { committed, pending: message };
  }

  /**
   * A text frame that starts as an ingest (`{"id":<n>,"op":"ingest",`) from a sender still inside
   * the `retry_after_ms` it was given, while the queue would still refuse any message of it: its
   * refusal (`busy` or `429`), made without decoding the frame. Null otherwise (the frame is
   * decoded and handled as usual). Nothing of it is stored, as with any refusal.
   */
  refuseUndecoded(principal: Principal, frame: ArrayBuffer, isBinary: boolean): { id: number; error: HubError } | null {
    if (isBinary || this.waitUntil.size === 0) return null;
    const sender = keyOf(principal.kind === 'api_token' ? principal.tokenId : null, principal.user.public_id);
    const until = this.waitUntil.get(sender);
    if (until === undefined) return null;
    if (until <= Date.now()) {
      this.waitUntil.delete(sender);
      return null;
    }
    // Only while the queue would refuse any message of it, of any size: the reply is the one
    // decoding it would have given (busy beats invalid, as in submit).
    const outcome = this.queue.refusalFor(sender, 1);
    if (outcome === null) return null;
    const start = INGEST_FRAME_START.exec(Buffer.from(frame, 0, Math.min(frame.byteLength, 64)).toString('latin1'));
    if (start === null) return null;
    return { id: Number(start[1]), error: this.refusal(outcome, sender, 1) };
  }

  /** The error of a message the queue did not take; nothing of it was stored. The sender is told to wait. */
  private refusal(outcome: Exclude<OfferOutcome, 'accepted'>, sender: string, count: number): HubError {
    const error = this.refusalError(outcome, sender, count);
    const wait = error.retryAfterMs;
    if (wait !== undefined && (error.code === 'busy' || error.code === 'rate_limited')) {
      const now = Date.now();
      // Full: sweep the expired ones, once per sender not yet remembered (not on every refusal).
      if (this.waitUntil.size >= MAX_WAITING_SENDERS && !this.waitUntil.has(sender)) {
        for (const [key, until] of this.waitUntil) if (until <= now) this.waitUntil.delete(key);
      }
      if (this.waitUntil.size < MAX_WAITING_SENDERS || this.waitUntil.has(sender)) this.waitUntil.set(sender, now + wait);
    }
    return error;
  }

  private refusalError(outcome: Exclude<OfferOutcome, 'accepted'>, sender: string, count: number): HubError {
    if (outcome === 'too_many') {
      this.metrics.ingestMessages.inc({ outcome: 'rate_limited' });
      const { points } = this.queue.heldBy(sender);
      return new HubError('rate_limited', `Too many ingest messages in flight for this token (at most ${this.queue.limits.senderMessages}); wait for acks`, {
        retryAfterMs: this.retryAfterMs(points),
      });
    }
    this.metrics.ingestMessages.inc({ outcome: 'busy' });
    if (outcome === 'over_share') {
      const excess = this.queue.heldBy(sender).points + count - this.queue.limits.senderPoints;
      return new HubError('busy', `This sender holds its share of the ingest queue (${this.queue.limits.senderPoints} points); nothing was stored`, {
        retryAfterMs: this.retryAfterMs(excess),
      });
    }
    return new HubError('busy', 'The ingest queue is full; nothing was stored', { retryAfterMs: this.retryAfterMs(this.queue.depth + count - this.queue.capacity) });
  }

  /** A fair guess of when `excess` points will have been written: at the recent commit rate. */
  private retryAfterMs(excess: number): number {
    if (this.writer.unavailableSince !== undefined) return 1000;
    return Math.round(Math.min(5000, Math.max(50, excess / Math.max(this.writer.rowsPerMs, 1))));
  }

  /**
   * The `ingest` op. Acks keep the order in which each connection's messages were queued;
   * refusals that store nothing (invalid, too large, busy) are answered at once.
   */
  op(allow: (p: Principal) => boolean): OpDef {
    return {
      name: 'ingest',
      allow,
      handle: async (data, ctx) => {
        const { committed, pending } = await this.submit(data, ctx.principal);
        const ack = await ordered(ctx.connection, committed);
        const released = performance.now();
        const { trace } = this.writer;
        if (pending.committedAt !== undefined) trace.record('ack', released - pending.committedAt);
        trace.record('total', released - (pending.receivedAt as number));
        return ack;
      },
    };
  }
}

/**
 * Settles `result` only after the connection's previously queued ingest has settled, so acks
 * reach a device in the order its messages were queued, whatever order they finish in.
 */
function ordered<T>(connection: ConnectionState, result: Promise<T>): Promise<T> {
  const previous = (connection.get(TAIL) as Promise<unknown> | undefined) ?? Promise.resolve();
  const mine = previous.then(() => result);
  connection.set(
    TAIL,
    mine.catch(() => undefined),
  );
  return mine;
}
