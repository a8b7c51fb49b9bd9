/**
 * The webhook sender: a loop that leases due deliveries from the outbox and POSTs them, with its
 * own bounded concurrency in total and per webhook (a dead receiver holds at most its own slots,
 * never the others'), each attempt signed, limited in time, never redirected, and connected
 * only to addresses the SSRF guard checked. Woken by the NOTIFY that commits with a cause's
 * deliveries, by the completion of an attempt, and by a timer for the next due row.
 * @see PROTOCOL.md §12
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { Agent, fetch } from 'undici';
import type { ClaimedDelivery, OutboxStore } from '../db/outbox-store.js';
import type { Metrics } from '../metrics.js';
import { VERSION } from '../version.js';
import { AddressNotAllowedError, classifyAddress, guardedLookup, systemResolver, type Resolver } from './address-guard.js';

export interface SenderOptions {
  readonly store: OutboxStore;
  /** Calls `wake` on every NOTIFY of the outbox channel (and after a reconnect); returns a closer. */
  readonly subscribe?: (wake: () => void) => { close(): Promise<void> };
  readonly log: Logger;
  readonly metrics?: Pick<Metrics, 'webhookDeliveries' | 'webhookAttemptSeconds'>;
  /** After this many failed attempts a delivery is dead-lettered (HUB_WEBHOOK_MAX_ATTEMPTS). */
  readonly maxAttempts: number;
  /** Private, loopback… addresses allowed (HUB_WEBHOOK_ALLOW_PRIVATE). */
  readonly allowPrivate: boolean;
  /** Attempts in flight at once, in all (HUB_WEBHOOK_CONCURRENCY). */
  readonly concurrency?: number;
  /** Attempts in flight at once to one webhook. */
  readonly perWebhook?: number;
  /** An attempt without an answer within this is failed. */
  readonly timeoutMs?: number;
  /** The first backoff; each later one doubles it. */
  readonly backoffBaseMs?: number;
  /** Resolves receivers' names (tests inject one). */
  readonly resolver?: Resolver;
  /** How long finished deliveries are kept: delivered, and dead letters (then purged hourly). */
  readonly keep?: { deliveredMs: number; deadMs: number };
}

/** PROTOCOL.md §12: 10 s per attempt; backoff 2 s, 4 s, 8 s … */
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_BACKOFF_BASE_MS = 2_000;
export const DEFAULT_CONCURRENCY = 16;
export const DEFAULT_PER_WEBHOOK = 2;
/** A lease outlives an attempt by this much (recording the outcome), then the row is due again. */
const LEASE_MARGIN_MS = 5_000;
/** The longest sleep without a NOTIFY or a due row: a safety net, not the way work is found. */
const IDLE_POLL_MS = 60_000;
/** The shortest timer, so that a row that cannot be claimed yet never makes the loop spin. */
const MIN_TIMER_MS = 25;
/** Delivered rows are kept a week, dead letters a month (an operator may still retry them). */
export const DEFAULT_KEEP = Object.freeze({ deliveredMs: 7 * 86_400_000, deadMs: 30 * 86_400_000 });
const PURGE_EVERY_MS = 60 * 60_000;
/** After a database error the loop tries again after this. */
const ERROR_RETRY_MS = 1_000;
const MAX_ERROR_CHARS = 300;

type Outcome = { ok: true; code: number } | { ok: false; code: number | null; error: string; refused: boolean; shutdown: boolean };

export class WebhookSender {
  private readonly store: OutboxStore;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly perWebhook: number;
  private readonly timeoutMs: number;
  private readonly backoffBaseMs: number;
  private readonly agent: Agent;
  /** Aborts the attempts still running when the shutdown grace runs out. */
  private readonly shutdown = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly perWebhookCount = new Map<string, number>();
  private subscription: { close(): Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  private pumping = false;
  private again = false;
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly options: SenderOptions) {
    this.store = options.store;
    this.log = options.log;
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    this.perWebhook = Math.min(options.perWebhook ?? DEFAULT_PER_WEBHOOK, this.concurrency);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.backoffBaseMs = options.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS;
    this.agent = new Agent({
      // Every name is resolved and checked here, and the socket gets the checked addresses.
      connect: { lookup: guardedLookup(options.resolver ?? systemResolver, options.allowPrivate), timeout: this.timeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  /** Starts listening and sends what is already due (pending rows survive restarts). */
  start(): void {
    this.subscription = this.options.subscribe?.(() => this.wake());
    this.wake();
    // The outbox would otherwise keep every delivery ever made.
    const purge = (): void => void this.purge().catch((err: unknown) => this.log.warn({ err }, 'purging finished webhook deliveries failed'));
    this.purgeTimer = setInterval(purge, PURGE_EVERY_MS);
    this.purgeTimer.unref();
    purge();
  }

  /** Deletes finished deliveries past their keep (hourly, and at start). */
  async purge(): Promise<number> {
    const keep = this.options.keep ?? DEFAULT_KEEP;
    const removed = await this.store.purge(keep.deliveredMs, keep.deadMs);
    if (removed > 0) this.log.info({ removed, keptDays: { delivered: keep.deliveredMs / 86_400_000, dead: keep.deadMs / 86_400_000 } }, 'purged finished webhook deliveries');
    return removed;
  }

  /** Attempts in flight now. */
  get active(): number {
    return this.inFlight.size;
  }

  /**
   * Stops claiming; attempts in flight get `graceMs` to finish (the 10 s limit of an attempt is
   * the natural bound), then are aborted and handed back as due, uncounted. Idempotent.
   */
  stop(graceMs = DEFAULT_TIMEOUT_MS + 1_000): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      clearTimeout(this.timer);
      clearInterval(this.purgeTimer);
      await this.subscription?.close().catch(() => undefined);
      if (this.inFlight.size > 0) {
        let graceTimer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((resolve) => (graceTimer = setTimeout(resolve, graceMs)));
        await Promise.race([Promise.allSettled([...this.inFlight]), grace]);
        clearTimeout(graceTimer);
        if (this.inFlight.size > 0) {
          this.log.warn({ attempts: this.inFlight.size }, 'shutdown: aborting webhook attempts still running; they stay pending');
          this.shutdown.abort();
          await Promise.allSettled([...this.inFlight]);
        }
      }
      await this.agent.destroy().catch(() => undefined);
    })();
    return this.stopped;
  }

  /** Claims what is due now (coalesced: a wake during a round runs one more round). */
  private wake(): void {
    if (this.stopping) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    try {
      do {
        this.again = false;
        while (!this.stopping) {
          const free = this.concurrency - this.inFlight.size;
          if (free <= 0) break;
          const claimed = await this.store.claim(free, this.perWebhook, this.perWebhookCount, this.timeoutMs + LEASE_MARGIN_MS);
          for (const delivery of claimed) this.launch(delivery);
          if (claimed.length < free) break;
        }
        if (!this.stopping && this.inFlight.size < this.concurrency) {
          const full = [...this.perWebhookCount].filter(([, n]) => n >= this.perWebhook).map(([id]) => id);
          const due = await this.store.nextDueMs(full);
          if (!this.again) this.arm(due === null ? IDLE_POLL_MS : Math.min(Math.max(due, MIN_TIMER_MS), IDLE_POLL_MS));
        }
      } while (this.again && !this.stopping);
    } catch (err) {
      this.log.warn({ err }, 'webhook outbox: claiming failed; trying again');
      this.arm(ERROR_RETRY_MS);
    } finally {
      this.pumping = false;
    }
  }

  private arm(ms: number): void {
    if (this.stopping) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), ms);
    this.timer.unref();
  }

  private launch(delivery: ClaimedDelivery): void {
    const webhook = delivery.webhookPublicId;
    this.perWebhookCount.set(webhook, (this.perWebhookCount.get(webhook) ?? 0) + 1);
    const run = this.attempt(delivery)
      .catch((err: unknown) => this.log.warn({ err, delivery: delivery.publicId }, 'webhook outbox: recording an attempt failed; the lease will run out'))
      .finally(() => {
        this.inFlight.delete(run);
        const left = (this.perWebhookCount.get(webhook) ?? 1) - 1;
        if (left <= 0) this.perWebhookCount.delete(webhook);
        else this.perWebhookCount.set(webhook, left);
        this.wake();
      });
    this.inFlight.add(run);
  }

  /** One attempt: POST, then record the outcome. */
  private async attempt(d: ClaimedDelivery): Promise<void> {
    const started = performance.now();
    const outcome = await this.post(d);
    this.options.metrics?.webhookAttemptSeconds.observe((performance.now() - started) / 1000);
    if (outcome.ok) {
      await this.store.delivered(d.id, outcome.code);
      this.options.metrics?.webhookDeliveries.inc({ outcome: 'delivered' });
      this.log.debug({ delivery: d.publicId, status: outcome.code }, 'webhook delivered');
      return;
    }
    if (outcome.shutdown) {
      await this.store.release(d.id, d.attempts);
      return;
    }
    const host = hostOf(d.url);
    const result = await this.store.failed(
      d.id,
      d.attempts,
      this.options.maxAttempts,
      this.backoffBaseMs,
      outcome.code,
      outcome.error,
      `Webhook delivery ${d.publicId} (${d.eventType}) to ${host} dead-lettered after {attempts} attempts: ${outcome.error}`,
    );
    if (result === null) return; // recorded meanwhile by another hub whose lease took over
    const label = result.status === 'dead_letter' ? 'dead_letter' : outcome.refused ? 'refused_address' : 'failed';
    this.options.metrics?.webhookDeliveries.inc({ outcome: label });
    const fields = { delivery: d.publicId, host, attempts: result.attempts, error: outcome.error };
    if (result.status === 'dead_letter') this.log.warn(fields, 'webhook delivery dead-lettered');
    else this.log.info(fields, 'webhook attempt failed; will retry');
  }

  /** The POST of PROTOCOL.md §12; never throws. */
  private async post(d: ClaimedDelivery): Promise<Outcome> {
    const fail = (error: string, code: number | null = null, refused = false): Outcome => ({
      ok: false,
      code,
      error: error.slice(0, MAX_ERROR_CHARS),
      refused,
      shutdown: false,
    });
    let url: URL;
    try {
      url = new URL(d.url);
    } catch {
      return fail('invalid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail('invalid URL: not http or https');
    // A literal address never reaches the lookup: it is checked here (it may predate the write check).
    if (!this.options.allowPrivate) {
      const cls = classifyAddress(url.hostname);
      if (cls !== null) return fail(new AddressNotAllowedError(url.hostname, url.hostname.replace(/^\[|\]$/g, ''), cls).message, null, true);
    }
    const timestamp = Math.floor(Date.now() / 1000).toString();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': `telemetry-hub/${VERSION}`,
      'x-webhook-event': d.eventType,
      'x-webhook-delivery': d.publicId,
      'x-webhook-timestamp': timestamp,
    };
    if (d.secret !== null && d.secret !== '') headers['x-webhook-signature'] = signature(d.secret, timestamp, d.body);
    try {
      const res = await fetch(url, {
        method: 'POST',
        body: d.body,
        headers,
        redirect: 'manual',
        dispatcher: this.agent,
        signal: AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.shutdown.signal]),
      });
      // The answer's body is not needed; cancelling it frees the connection.
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { ok: true, code: res.status };
      const redirect = res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : '';
      return fail(`HTTP ${res.status}${redirect}`, res.status);
    } catch (err) {
      if (this.shutdown.signal.aborted) return { ok: false, code: null, error: 'shutdown', refused: false, shutdown: true };
      const refused = findCause(err, (e) => e instanceof AddressNotAllowedError);
      if (refused !== undefined) return fail((refused as Error).message, null, true);
      return fail(describeFailure(err, this.timeoutMs));
    }
  }
}

/** `X-Webhook-Signature`: hex HMAC-SHA256 of `"<timestamp>.<body>"` (as WebMACS signs). */
export function signature(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** host[:port] of a URL, for logs (never its path, query or credentials). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid URL)';
  }
}

function findCause(err: unknown, match: (e: unknown) => boolean): unknown {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (match(e)) return e;
  }
  return undefined;
}

/** A short reason without the URL (it may hold credentials or tokens). */
function describeFailure(err: unknown, timeoutMs: number): string {
  const timedOut = findCause(err, (e) => {
    const name = (e as { name?: string }).name;
    const code = (e as { code?: string }).code;
    return name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
  });
  if (timedOut !== undefined) return `no answer within ${timeoutMs / 1000} s`;
  const coded = findCause(err, (e) => typeof (e as { code?: unknown }).code === 'string') as { code: string } | undefined;
  if (coded !== undefined) return `connection failed (${coded.code})`;
  return 'request failed';
}
