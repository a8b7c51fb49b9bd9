/**
 * The webhook outbox, read side: the SQL of the sender (automation/sender.ts). Each call is one
 * short statement (its own transaction): no transaction is held while a receiver is called.
 * @see PROTOCOL.md §12
 */
import type { Logger } from 'pino';
import { listen, type Listener } from './notify.js';
import type { Pool } from './pool.js';

/** A delivery leased to this hub for one attempt, with what is needed to POST it. */
export interface ClaimedDelivery {
  readonly id: number;
  readonly publicId: string;
  readonly eventType: string;
  /** The stored payload as text: the exact body of the POST. */
  readonly body: string;
  /** Attempts made before this one. */
  readonly attempts: number;
  readonly webhookPublicId: string;
  readonly url: string;
  readonly secret: string | null;
}

/** What became of a failed attempt. */
export interface FailedOutcome {
  readonly status: 'pending' | 'dead_letter';
  readonly attempts: number;
}

/**
 * Leases due deliveries: per webhook at most its free slots (`$2` minus what this hub has in
 * flight for it, `$3` as a JSON object), oldest due first, at most `$1` in all. `SKIP LOCKED`
 * lets several hubs claim at once without waiting on each other; pushing `next_attempt_at` past
 * the attempt's time limit makes the row invisible to every other claim until this hub records
 * the outcome, or until the lease runs out (this hub died) and the row is due again.
 * A disabled webhook gets only its `ping` deliveries (webhooks.test).
 */
const CLAIM_SQL = `
  WITH picked AS (
    SELECT c.id
      FROM webhooks w
      CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at
          FROM webhook_deliveries d
         WHERE d.webhook_public_id = w.public_id
           AND d.status = 'pending'
           AND d.next_attempt_at <= now()
           AND (w.enabled OR d.event_type = 'ping')
         ORDER BY d.next_attempt_at, d.id
         LIMIT GREATEST(0, $2::int - COALESCE(($3::jsonb ->> w.public_id::text)::int, 0))
           FOR UPDATE OF d SKIP LOCKED
      ) c
     ORDER BY c.next_attempt_at, c.id
     LIMIT $1)
  UPDATE webhook_deliveries d
     SET next_attempt_at = now() + $4::int * interval '1 millisecond'
    FROM picked p, webhooks w
   WHERE d.id = p.id AND w.public_id = d.webhook_public_id
  RETURNING d.id, d.public_id, d.event_type, d.payload::text AS body, d.attempts, d.webhook_public_id, w.url, w.secret`;

/** A 2xx: delivered, whatever another hub that re-leased it meanwhile is doing. */
const DELIVERED_SQL = `
  UPDATE webhook_deliveries
     SET status = 'delivered', attempts = attempts + 1, response_code = $2, delivered_on = now(),
         next_attempt_at = NULL, last_error = NULL
   WHERE id = $1 AND status = 'pending'`;

/**
 * A failed attempt: counted once (only if no other attempt was recorded since the claim), then
 * either due again after the backoff (`$4` ms · 2^(attempts − 1)) or, at `$3` attempts,
 * dead-lettered together with its `error` log entry (content `$5`), in one transaction.
 */
const FAILED_SQL = `
  WITH failed AS (
    UPDATE webhook_deliveries
       SET attempts = attempts + 1,
           response_code = $6,
           last_error = $7,
           status = (CASE WHEN attempts + 1 >= $3 THEN 'dead_letter' ELSE 'pending' END)::delivery_status,
           next_attempt_at = CASE WHEN attempts + 1 >= $3 THEN NULL
                                  ELSE now() + ($4::float8 * power(2, attempts)) * interval '1 millisecond' END
     WHERE id = $1 AND status = 'pending' AND attempts = $2
    RETURNING status, attempts),
  logged AS (
    INSERT INTO log_entries (content, logging_type, status_type)
    SELECT replace($5, '{attempts}', failed.attempts::text), 'error', 'unread' FROM failed WHERE failed.status = 'dead_letter'
    RETURNING public_id)
  SELECT failed.status::text AS status, failed.attempts, (SELECT count(*) FROM logged) AS logged FROM failed`;

/** An attempt given up before it ended (shutdown): due again now, no attempt counted. */
const RELEASE_SQL = `
  UPDATE webhook_deliveries SET next_attempt_at = now()
   WHERE id = $1 AND status = 'pending' AND attempts = $2`;

/**
 * Milliseconds until the next pending delivery this hub could send is due: leased rows count at
 * the end of their lease (their hub may have died); webhooks `$1` (at their in-flight limit
 * here) do not count, their attempts' completions wake the sender.
 */
const NEXT_DUE_SQL = `
  SELECT GREATEST(0, EXTRACT(EPOCH FROM (min(d.next_attempt_at) - now())) * 1000)::float8 AS ms
    FROM webhook_deliveries d JOIN webhooks w ON w.public_id = d.webhook_public_id
   WHERE d.status = 'pending' AND (w.enabled OR d.event_type = 'ping')
     AND d.webhook_public_id <> ALL ($1::uuid[])`;

const STATS_SQL = `
  SELECT count(*)::int AS pending,
         COALESCE(EXTRACT(EPOCH FROM (now() - min(created_on))), 0)::float8 AS oldest_s
    FROM webhook_deliveries WHERE status = 'pending'`;

/**
 * Finished deliveries past their keep: delivered ones after `$1` ms, dead letters (which an
 * operator may still look at and retry) after `$2` ms; at most `$3` rows a statement.
 */
const PURGE_SQL = `
  DELETE FROM webhook_deliveries WHERE id IN (
    SELECT id FROM webhook_deliveries
     WHERE (status = 'delivered' AND delivered_on < now() - $1::float8 * interval '1 millisecond')
        OR (status = 'dead_letter' AND created_on < now() - $2::float8 * interval '1 millisecond')
     LIMIT $3)`;
const PURGE_BATCH = 5_000;

/** The sender's statements, on a pool of its own. */
export class OutboxStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Deletes finished deliveries past their keep, a batch at a time (no long lock, no huge
   * transaction); pending ones are never touched. Returns how many went.
   */
  async purge(deliveredKeepMs: number, deadKeepMs: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const { rowCount } = await this.pool.query(PURGE_SQL, [deliveredKeepMs, deadKeepMs, PURGE_BATCH]);
      removed += rowCount ?? 0;
      if ((rowCount ?? 0) < PURGE_BATCH) return removed;
    }
  }

  /** Leases up to `limit` due deliveries for `leaseMs`, at most `perWebhook` in flight per webhook. */
  async claim(limit: number, perWebhook: number, inFlight: ReadonlyMap<string, number>, leaseMs: number): Promise<ClaimedDelivery[]> {
    const { rows } = await this.pool.query(CLAIM_SQL, [limit, perWebhook, JSON.stringify(Object.fromEntries(inFlight)), Math.ceil(leaseMs)]);
    return rows.map((r: Record<string, unknown>) => ({
      id: r.id as number,
      publicId: r.public_id as string,
      eventType: r.event_type as string,
      body: r.body as string,
      attempts: r.attempts as number,
      webhookPublicId: r.webhook_public_id as string,
      url: r.url as string,
      secret: (r.secret as string | null) ?? null,
    }));
  }

  /** Records a 2xx. Returns false when the delivery was no longer pending. */
  async delivered(id: number, responseCode: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(DELIVERED_SQL, [id, responseCode]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Records a failed attempt made after `attempts` earlier ones. `deadLetterLog` is the content
   * of the log entry written if this was the last allowed attempt (`{attempts}` is filled in).
   * Returns null when another attempt was recorded meanwhile (nothing changed).
   */
  async failed(
    id: number,
    attempts: number,
    maxAttempts: number,
    backoffBaseMs: number,
    responseCode: number | null,
    error: string,
    deadLetterLog: string,
  ): Promise<FailedOutcome | null> {
    const { rows } = await this.pool.query(FAILED_SQL, [id, attempts, maxAttempts, backoffBaseMs, deadLetterLog, responseCode, error]);
    const row = rows[0] as { status: 'pending' | 'dead_letter'; attempts: number } | undefined;
    return row === undefined ? null : { status: row.status, attempts: row.attempts };
  }

  /** Hands a leased delivery back, due now, without counting an attempt. */
  async release(id: number, attempts: number): Promise<void> {
    await this.pool.query(RELEASE_SQL, [id, attempts]);
  }

  /** Milliseconds until the next sendable delivery is due, or null when there is none; `except` webhooks left out. */
  async nextDueMs(except: readonly string[] = []): Promise<number | null> {
    const { rows } = await this.pool.query(NEXT_DUE_SQL, [except]);
    const ms = (rows[0] as { ms: number | null } | undefined)?.ms;
    return ms === null || ms === undefined ? null : ms;
  }

  /** Pending deliveries and the age of the oldest, for /metrics. */
  async stats(): Promise<{ pending: number; oldestAgeSeconds: number }> {
    const { rows } = await this.pool.query(STATS_SQL);
    const row = rows[0] as { pending: number; oldest_s: number };
    return { pending: row.pending, oldestAgeSeconds: row.oldest_s };
  }
}

/**
 * LISTEN on the outbox channel on a connection of its own: `wake` on every NOTIFY, and after a
 * reconnect (the notices sent meanwhile are lost, so the sender looks for due rows then too).
 */
export function listenOutbox(url: string, channel: string, wake: () => void, log: Logger): Listener {
  return listen(url, channel, () => wake(), wake, log);
}
