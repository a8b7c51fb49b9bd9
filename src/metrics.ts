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

  readonly closedSockets = new Counter({
    name: 'hub_ws_closed_total',
    help: 'WebSocket connections closed, by close code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

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
