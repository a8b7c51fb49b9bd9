/**
 * Rules in the ingest path: evaluated for every point of a COPY batch before its COMMIT, their
 * triggers (the claimed cooldown, the log entry, the alert and the webhook deliveries) written in
 * the batch's own transaction — so after any crash there is never a stored point whose trigger
 * is missing, nor a trigger whose point is not stored. Also the `sensor.reading` deliveries (at
 * most one per event every 5 s per hub).
 *
 * The cooldown is claimed by one conditional UPDATE on the rule's row, which every hub process
 * and every retry goes through: a rule triggers at most once per cooldown, whoever ingests.
 * @see PROTOCOL.md §11, §12
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { rules, webhooks } from '../db/schema.js';
import { OUTBOX_CHANNEL, type SqlRunner } from './outbox.js';
import { RuleSet, type Candidate, type PointsOfMessage, type Rule, type RuleOperator } from './rules.js';

/** The NOTIFY channel of alerts: every hub pushes them to its `alerts` topic subscribers. */
export const ALERT_CHANNEL = 'hub_alert';
/** `sensor.reading`: at most one delivery per event (per webhook) this often. @see PROTOCOL.md §12 */
export const READING_INTERVAL_MS = 5_000;
/** A hint of a rule's cooldown is trusted only up to this much before it ends (clock skew). */
const HINT_MARGIN_MS = 1_000;

/** What a batch's transaction must write, found before it runs; `committed` runs after COMMIT. */
export interface CommitWork {
  write(run: SqlRunner): Promise<void>;
  committed(): void;
}

/** What the COPY writer asks of its commit hook. */
export interface CommitHook {
  /** Pure and synchronous: what this batch must write in its transaction, or null for nothing. */
  prepare(messages: readonly PointsOfMessage[]): CommitWork | null;
}

export interface RuleStats {
  evaluations: number;
  candidates: number;
  triggers: number;
}

/** Locks the candidate rules in id order (no deadlock between hubs) and reads their cooldowns. */
const LOCK_SQL = `
  SELECT public_id,
         CASE WHEN last_triggered_at IS NULL THEN 0
              ELSE extract(epoch FROM last_triggered_at) * 1000 + cooldown_seconds * 1000.0 END::float8 AS cooling_until
    FROM rules WHERE public_id = ANY ($1::uuid[]) ORDER BY id FOR UPDATE`;

/**
 * Claims the cooldown of every candidate rule whose cooldown allows it, then writes each trigger's
 * log entry, its deliveries and its alert NOTIFY. A rule with a cooldown fires once (its first
 * candidate); one without fires for every candidate.
 */
const TRIGGER_SQL = `
  WITH cand AS (
    SELECT * FROM unnest($1::uuid[], $2::float8[], $3::float8[], $4::int[]) AS c(rule_id, value, ts, ord)
  ), claimed AS (
    -- clock_timestamp(), not now(): a transaction that began before another hub's claim committed
    -- must compare with the time of its own claim.
    UPDATE rules r SET last_triggered_at = greatest(clock_timestamp(), r.last_triggered_at)
     WHERE r.public_id IN (SELECT rule_id FROM cand) AND r.enabled
       AND (r.last_triggered_at IS NULL OR r.last_triggered_at <= clock_timestamp() - make_interval(secs => r.cooldown_seconds))
    RETURNING r.public_id, r.name, r.event_public_id, r.operator, r.threshold, r.threshold_high,
              r.cooldown_seconds, r.action_type, coalesce(r.webhook_event_type, 'sensor.threshold_exceeded') AS hook_type
  ), fired AS (
    SELECT cl.*, c.value, c.ts, c.ord, e.name AS event_name,
           to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS triggered_at
      FROM cand c
      JOIN claimed cl ON cl.public_id = c.rule_id
      JOIN events e ON e.public_id = cl.event_public_id
     WHERE cl.cooldown_seconds = 0 OR c.ord = (SELECT min(c2.ord) FROM cand c2 WHERE c2.rule_id = c.rule_id)
  ), logged AS (
    INSERT INTO log_entries (content, logging_type, status_type)
    SELECT format('Rule "%s" triggered: %s = %s (%s %s%s)', f.name, f.event_name, f.value, f.operator, f.threshold,
                  CASE WHEN f.threshold_high IS NULL THEN '' ELSE ' .. ' || f.threshold_high END),
           'warning', 'unread'
      FROM fired f ORDER BY f.ord
    RETURNING 1
  ), hooked AS (
    INSERT INTO webhook_deliveries (webhook_public_id, event_type, payload, status, next_attempt_at)
    SELECT w.public_id, f.hook_type,
           jsonb_build_object('type', f.hook_type, 'time', f.triggered_at, 'rule_public_id', f.public_id, 'rule_name', f.name,
                              'event_public_id', f.event_public_id, 'sensor', f.event_name, 'value', f.value, 'ts', f.ts,
                              'threshold', f.threshold, 'threshold_high', f.threshold_high),
           'pending', now()
      FROM fired f JOIN webhooks w ON w.enabled AND f.hook_type = ANY (w.events)
     WHERE f.action_type = 'webhook'
    RETURNING 1
  )
  SELECT f.public_id AS rule_id, f.cooldown_seconds,
         pg_notify('${ALERT_CHANNEL}', json_build_object(
           'rule_public_id', f.public_id, 'rule_name', f.name, 'event_public_id', f.event_public_id,
           'event_name', f.event_name, 'value', f.value, 'ts', f.ts, 'operator', f.operator,
           'threshold', f.threshold, 'threshold_high', f.threshold_high, 'triggered_at', f.triggered_at)::text) AS alerted,
         (SELECT count(*) FROM logged)::int AS logged,
         CASE WHEN (SELECT count(*) FROM hooked) > 0 THEN pg_notify('${OUTBOX_CHANNEL}', '') END AS woke
    FROM fired f ORDER BY f.ord`;

/** One `sensor.reading` delivery per (event, subscribed webhook), with the event's latest committed value. */
const READINGS_SQL = `
  WITH r AS (SELECT * FROM unnest($1::uuid[], $2::float8[], $3::float8[]) AS r(event, value, ts)),
  queued AS (
    INSERT INTO webhook_deliveries (webhook_public_id, event_type, payload, status, next_attempt_at)
    SELECT w.public_id, 'sensor.reading',
           jsonb_build_object('type', 'sensor.reading', 'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                              'event_public_id', r.event, 'sensor', e.name, 'value', r.value, 'ts', r.ts),
           'pending', now()
      FROM r JOIN events e ON e.public_id = r.event
      JOIN webhooks w ON w.enabled AND 'sensor.reading' = ANY (w.events)
    RETURNING 1)
  SELECT CASE WHEN count(*) > 0 THEN pg_notify('${OUTBOX_CHANNEL}', '') END AS woke, count(*)::int AS queued FROM queued`;

/** The rules of every event kept in memory, and the commit hook that applies them. */
export class RuleEngine implements CommitHook {
  private set = new RuleSet([]);
  private readingWebhooks = false;
  /** Epoch ms until which a rule is known to be cooling down (a hint; the database decides). */
  private readonly coolingUntil = new Map<string, number>();
  /** When this hub last queued a `sensor.reading` delivery per event. */
  private readonly lastReading = new Map<string, number>();
  private reloading: Promise<void> | undefined;
  private again = false;
  readonly stats: RuleStats = { evaluations: 0, candidates: 0, triggers: 0 };

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  get ruleCount(): number {
    return this.set.size;
  }

  /** Reads the enabled rules (and whether any webhook wants readings); calls during a reload coalesce into one more. */
  reload(): Promise<void> {
    if (this.reloading !== undefined) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.again = false;
          await this.fetch();
        } while (this.again);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  private async fetch(): Promise<void> {
    const rows = await this.db
      .select({
        id: rules.public_id,
        event: rules.event_public_id,
        operator: rules.operator,
        threshold: rules.threshold,
        thresholdHigh: rules.threshold_high,
        cooldownSeconds: rules.cooldown_seconds,
      })
      .from(rules)
      .where(eq(rules.enabled, true));
    const [reading] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(webhooks)
      .where(and(eq(webhooks.enabled, true), sql`'sensor.reading' = ANY (${webhooks.events})`));
    this.set = new RuleSet(rows.map((r) => ({ ...r, operator: r.operator as RuleOperator })));
    // A changed rule (a shorter cooldown, say) must not be skipped on an old hint.
    this.coolingUntil.clear();
    this.readingWebhooks = (reading?.n ?? 0) > 0;
    this.log.debug({ rules: rows.length, readingWebhooks: this.readingWebhooks }, 'rules reloaded');
  }

  prepare(messages: readonly PointsOfMessage[]): CommitWork | null {
    const now = Date.now();
    let points = 0;
    for (const m of messages) points += m.count;
    this.stats.evaluations += points * (this.set.size > 0 ? 1 : 0);
    const candidates = this.set.evaluate(messages, now, (rule) => this.coolingUntil.get(rule.id) ?? 0);
    const readings = this.readingWebhooks ? this.dueReadings(messages, now) : null;
    if (candidates.length === 0 && readings === null) return null;
    this.stats.candidates += candidates.length;
    let fired: { rule_id: string; cooldown_seconds: number }[] = [];
    let hints: { public_id: string; cooling_until: number }[] = [];
    return {
      write: async (run) => {
        if (candidates.length > 0) {
          const ids = [...new Set(candidates.map((c) => c.rule.id))];
          hints = (await run(LOCK_SQL, [ids])).rows as typeof hints;
          fired = (await run(TRIGGER_SQL, triggerParams(candidates))).rows as typeof fired;
        }
        if (readings !== null) await run(READINGS_SQL, [readings.events, readings.values, readings.ts]);
      },
      committed: () => {
        const at = Date.now();
        // What the database said of each candidate rule's cooldown, then the ones just claimed.
        for (const { public_id, cooling_until } of hints) this.coolingUntil.set(public_id, cooling_until - HINT_MARGIN_MS);
        for (const f of fired) this.coolingUntil.set(f.rule_id, at + f.cooldown_seconds * 1000 - HINT_MARGIN_MS);
        this.stats.triggers += fired.length;
        if (readings !== null) for (const event of readings.events) this.lastReading.set(event, at);
        if (this.coolingUntil.size > 4 * this.set.size + 1024) this.coolingUntil.clear();
      },
    };
  }

  /** The latest point (in commit order) of every event of the batch whose last reading delivery is old enough. */
  private dueReadings(messages: readonly PointsOfMessage[], now: number): { events: string[]; values: number[]; ts: number[] } | null {
    const latest = new Map<string, [number, number]>();
    for (const m of messages) {
      for (let i = 0; i < m.count; i++) {
        const event = (m.events[i] as { id: string }).id;
        if (now - (this.lastReading.get(event) ?? 0) < READING_INTERVAL_MS) continue;
        latest.set(event, [m.values[i] as number, m.ts[i] as number]);
      }
    }
    if (latest.size === 0) return null;
    const out = { events: [] as string[], values: [] as number[], ts: [] as number[] };
    for (const [event, [value, ts]] of latest) {
      out.events.push(event);
      out.values.push(value);
      out.ts.push(ts);
    }
    return out;
  }
}

function triggerParams(candidates: readonly Candidate[]): unknown[] {
  return [
    candidates.map((c) => c.rule.id),
    candidates.map((c) => c.value),
    candidates.map((c) => c.ts),
    candidates.map((c) => c.order),
  ];
}

export type { Rule };
