/** The hub's Prometheus metrics (prom-client), one registry per hub, served at `/metrics`. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  readonly connections = new Gauge({
    name: 'hub_ws_connections',
    help: 'Open WebSocket connections, by role',
    labelNames: ['role'] as const,
    registers: [this.registry],
  });

  readonly requests = new Counter({
    name: 'hub_ws_requests_total',
    help: 'Socket requests handled, by op and outcome (ok or the error code)',
    labelNames: ['op', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly requestSeconds = new Histogram({
    name: 'hub_ws_request_seconds',
    help: 'Socket request latency, from decoded frame to reply, by op',
    labelNames: ['op'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly httpRequests = new Counter({
    name: 'hub_http_requests_total',
    help: 'HTTP requests, by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });

  readonly ssoLogins = new Counter({
    name: 'hub_sso_logins_total',
    help: 'SSO sign-ins (PROTOCOL.md §17), by outcome (matched, linked, created, refused) and reason of a refusal',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });

  readonly closedSockets = new Counter({
    name: 'hub_ws_closed_total',
    help: 'WebSocket connections closed, by close code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  /** Reads the ingest queue when metrics are scraped (set once the queue exists). */
  queueStats: (() => { depth: number; capacity: number }) | undefined;

  readonly ingestQueueDepth = new Gauge({
    name: 'hub_ingest_queue_points',
    help: 'Points held by the ingest queue (waiting and being written)',
    registers: [this.registry],
    collect: () => {
      const stats = this.queueStats?.();
      if (stats !== undefined) this.ingestQueueDepth.set(stats.depth);
    },
  });

  readonly ingestQueueCapacity = new Gauge({
    name: 'hub_ingest_queue_capacity_points',
    help: 'The ingest queue bound (HUB_QUEUE_CAPACITY)',
    registers: [this.registry],
    collect: () => {
      const stats = this.queueStats?.();
      if (stats !== undefined) this.ingestQueueCapacity.set(stats.capacity);
    },
  });

  readonly ingestRows = new Counter({
    name: 'hub_ingest_rows_total',
    help: 'Datapoints committed (rate() of it is rows/s)',
    registers: [this.registry],
  });

  readonly ingestMessages = new Counter({
    name: 'hub_ingest_messages_total',
    help: 'Ingest messages, by outcome: committed, duplicate, busy, invalid, too_large, failed',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly copyBatchRows = new Histogram({
    name: 'hub_copy_batch_rows',
    help: 'Rows per COPY batch',
    buckets: [1, 10, 100, 1000, 5000, 10_000, 20_000, 50_000, 100_000],
    registers: [this.registry],
  });

  readonly copySeconds = new Histogram({
    name: 'hub_copy_seconds',
    help: 'Time to write and commit one COPY batch',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  /** Reads (and restarts) the ingest stage trace when metrics are scraped (src/ingest/ingest-trace.ts). */
  ingestStages: (() => Record<string, { count: number; p50: number; p99: number; max: number }>) | undefined;

  readonly ingestStageMs = new Gauge({
    name: 'hub_ingest_stage_ms',
    help: 'Ingest message latency by stage since the previous scrape, ms (quantile 0.5, 0.99, 1 = max)',
    labelNames: ['stage', 'quantile'] as const,
    registers: [this.registry],
    collect: () => {
      const stages = this.ingestStages?.();
      if (stages === undefined) return;
      this.ingestStageMs.reset();
      for (const [stage, s] of Object.entries(stages)) {
        if (s.count === 0) continue;
        this.ingestStageMs.set({ stage, quantile: '0.5' }, s.p50);
        this.ingestStageMs.set({ stage, quantile: '0.99' }, s.p99);
        this.ingestStageMs.set({ stage, quantile: '1' }, s.max);
      }
    },
  });

  /** Reads the ingest catalog's counts when metrics are scraped (set once the catalog exists). */
  catalogStats: (() => Record<string, number>) | undefined;

  readonly catalogFullReads = new Gauge({
    name: 'hub_catalog_full_reads',
    help: 'Whole reads of an ingest catalog part (events, channel_mappings, experiments) since start (a counter): at start, after a lost LISTEN, for a large statement; not per write',
    labelNames: ['part'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [part, n] of Object.entries(this.catalogStats?.() ?? {})) this.catalogFullReads.set({ part }, n);
    },
  });

  readonly copyFailures = new Counter({
    name: 'hub_copy_failures_total',
    help: 'COPY batches that failed, by reason (database unavailable, constraint, other; predecessor: rolled back only because an earlier batch failed, then written again)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** Reads the rule engine's counts when metrics are scraped (set once it exists). */
  ruleStats: (() => { evaluations: number; candidates: number; triggers: number; rules: number }) | undefined;

  readonly ruleEvaluations = new Gauge({
    name: 'hub_rule_evaluated_points',
    help: 'Committed points evaluated against at least one enabled rule, since start (a counter)',
    registers: [this.registry],
    collect: () => {
      const stats = this.ruleStats?.();
      if (stats === undefined) return;
      this.ruleEvaluations.set(stats.evaluations);
      this.ruleCandidates.set(stats.candidates);
      this.ruleTriggers.set(stats.triggers);
      this.rulesEnabled.set(stats.rules);
    },
  });

  readonly ruleCandidates = new Gauge({
    name: 'hub_rule_matches',
    help: 'Matching points that could trigger their rule (first match per batch for rules with a cooldown), since start (a counter)',
    registers: [this.registry],
  });

  readonly ruleTriggers = new Gauge({
    name: 'hub_rule_triggers',
    help: 'Rule triggers committed by this hub since start (a counter)',
    registers: [this.registry],
  });

  readonly rulesEnabled = new Gauge({
    name: 'hub_rules_enabled',
    help: 'Enabled rules held in memory',
    registers: [this.registry],
  });

  /** Reads the NATS bus's counts when metrics are scraped (several hubs, PROTOCOL.md §15). */
  busStats:
    | (() => {
        published: number;
        received: number;
        lagMsSum: number;
        reconnects: number;
        up: boolean;
        gapFill?: { fills: number; filledPoints: number; droppedDuplicates: number; lostEvents: number } | undefined;
      })
    | undefined;

  readonly busMessages = new Gauge({
    name: 'hub_bus_messages',
    help: 'NATS live messages since start, by direction (published, received from other hubs; a counter)',
    labelNames: ['direction'] as const,
    registers: [this.registry],
    collect: () => {
      const stats = this.busStats?.();
      if (stats === undefined) return;
      this.busMessages.set({ direction: 'published' }, stats.published);
      this.busMessages.set({ direction: 'received' }, stats.received);
      this.busLagSeconds.set(stats.lagMsSum / 1000);
      this.busReconnects.set(stats.reconnects);
      this.busUp.set(stats.up ? 1 : 0);
      const fill = stats.gapFill;
      if (fill !== undefined) {
        this.busGapFill.set({ what: 'fills' }, fill.fills);
        this.busGapFill.set({ what: 'points' }, fill.filledPoints);
        this.busGapFill.set({ what: 'duplicates_dropped' }, fill.droppedDuplicates);
        this.busGapFill.set({ what: 'lost_events' }, fill.lostEvents);
      }
    },
  });

  readonly busGapFill = new Gauge({
    name: 'hub_bus_gap_fill',
    help: 'Gap fills after bus outages since start (a counter each): fills run, points read back from PostgreSQL, held batches dropped as already filled, events whose subscribers had to resume with since',
    labelNames: ['what'] as const,
    registers: [this.registry],
  });

  readonly busLagSeconds = new Gauge({
    name: 'hub_bus_lag_seconds_sum',
    help: 'Sum of the delays from publication to receipt of received bus messages (divide by hub_bus_messages{direction="received"})',
    registers: [this.registry],
  });

  readonly busReconnects = new Gauge({ name: 'hub_bus_reconnects', help: 'NATS reconnections since start (a counter)', registers: [this.registry] });

  readonly busUp = new Gauge({ name: 'hub_bus_up', help: '1 while connected to NATS', registers: [this.registry] });

  /** Reads the live fan-out's counts when metrics are scraped (set once it exists). */
  liveStats: (() => { pushes: number; conflatedPushes: number; conflatedPoints: number; subscriptions: number }) | undefined;

  readonly livePushes = new Gauge({
    name: 'hub_live_pushes',
    help: 'readings pushes sent since start (a counter)',
    registers: [this.registry],
    collect: () => {
      const stats = this.liveStats?.();
      if (stats === undefined) return;
      this.livePushes.set(stats.pushes);
      this.liveConflatedPushes.set(stats.conflatedPushes);
      this.liveConflatedPoints.set(stats.conflatedPoints);
      this.liveSubscriptions.set(stats.subscriptions);
    },
  });

  readonly liveConflatedPushes = new Gauge({
    name: 'hub_live_conflated_pushes',
    help: 'Conflated readings pushes sent since start (a counter)',
    registers: [this.registry],
  });

  readonly liveConflatedPoints = new Gauge({
    name: 'hub_live_conflated_points',
    help: 'Points not pushed to slow or rate-limited subscribers, replaced by a later one (a counter)',
    registers: [this.registry],
  });

  readonly liveSubscriptions = new Gauge({
    name: 'hub_live_subscriptions',
    help: 'Subscriptions (socket × event) open now',
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'hub_webhook_deliveries_total',
    help:
      'Webhook delivery attempts, by outcome: delivered (2xx), failed (retried later), refused_address ' +
      '(the SSRF guard refused the address; retried later), dead_letter (the last allowed attempt failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly webhookAttemptSeconds = new Histogram({
    name: 'hub_webhook_attempt_seconds',
    help: 'Time of one webhook attempt, from connecting to the answer (or the failure)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /** Reads the webhook outbox when metrics are scraped (set once the sender exists). */
  outboxStats: (() => Promise<{ pending: number; oldestAgeSeconds: number }>) | undefined;

  readonly webhookOutboxPending = new Gauge({
    name: 'hub_webhook_outbox_pending',
    help: 'Webhook deliveries pending (waiting for an attempt or a retry), in the database',
    registers: [this.registry],
    collect: async () => {
      const stats = await this.scrapeOutbox();
      if (stats !== undefined) this.webhookOutboxPending.set(stats.pending);
    },
  });

  readonly webhookOutboxOldestSeconds = new Gauge({
    name: 'hub_webhook_outbox_oldest_pending_seconds',
    help: 'Age of the oldest pending webhook delivery (0 when none is pending)',
    registers: [this.registry],
    collect: async () => {
      const stats = await this.scrapeOutbox();
      if (stats !== undefined) this.webhookOutboxOldestSeconds.set(stats.oldestAgeSeconds);
    },
  });

  private outboxScrape: Promise<{ pending: number; oldestAgeSeconds: number } | undefined> | undefined;

  /** One outbox query per scrape: the registry collects every metric at once. */
  private scrapeOutbox(): Promise<{ pending: number; oldestAgeSeconds: number } | undefined> {
    this.outboxScrape ??= (this.outboxStats?.() ?? Promise.resolve(undefined))
      .catch(() => undefined)
      .finally(() => setTimeout(() => (this.outboxScrape = undefined), 100).unref());
    return this.outboxScrape;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'hub_' });
  }

  /** The text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
