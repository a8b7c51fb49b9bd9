/**
 * Storage maintenance of `datapoints`: partitions made ahead (partitions.ts), then retention
 * (retention.ts), once at start and every hour after. Hubs sharing a database take turns by an
 * advisory lock. A failed run (a lock not granted in time, the database away) is logged and tried
 * again at the next: the default partition stores any point meanwhile.
 * @see PROTOCOL.md §16
 */
import type { Logger } from 'pino';
import { ensurePartitions } from './partitions.js';
import { checkout, type Pool } from './pool.js';
import { applyRetention, type RetentionResult } from './retention.js';

/** How often maintenance runs after the first run at start. */
export const MAINTENANCE_INTERVAL_MS = 3_600_000;
// Any constant will do; it only has to be the same in every hub process.
const MAINTENANCE_LOCK = 0x6875_6202;

export interface MaintenanceOptions {
  readonly widthDays: number;
  /** `null`: keep everything. */
  readonly retentionDays: number | null;
  readonly log: Logger;
  readonly intervalMs?: number;
  /** The clock (tests move it). */
  readonly now?: () => number;
}

export interface MaintenanceResult {
  readonly created: string[];
  readonly retention: RetentionResult | null;
}

/** Partition creation and retention, once now and then every `intervalMs`. */
export class StorageMaintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly pool: Pool,
    private readonly options: MaintenanceOptions,
  ) {}

  /** Runs once (awaited), then on the interval. */
  async start(): Promise<void> {
    await this.runLogged();
    this.timer = setInterval(() => void this.runLogged(), this.options.intervalMs ?? MAINTENANCE_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One run under the maintenance lock: partitions ahead, then retention. */
  run(): Promise<MaintenanceResult> {
    const run = (async () => {
      const { client, release } = await checkout(this.pool);
      let failed: Error | undefined;
      try {
        await client.query('SELECT pg_advisory_lock($1)', [MAINTENANCE_LOCK]);
        try {
          const now = (this.options.now ?? Date.now)();
          const created = await ensurePartitions(client, this.options.widthDays, now);
          const retention = this.options.retentionDays === null ? null : await applyRetention(client, this.options.retentionDays, now);
          return { created, retention };
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [MAINTENANCE_LOCK]);
        }
      } catch (err) {
        failed = err instanceof Error ? err : new Error(String(err));
        throw err;
      } finally {
        release(failed);
      }
    })();
    this.running = run.catch(() => undefined);
    return run;
  }

  private async runLogged(): Promise<void> {
    const { log } = this.options;
    try {
      const { created, retention } = await this.run();
      if (created.length > 0) log.info({ partitions: created }, 'datapoints partitions created');
      for (const p of retention?.dropped ?? []) log.info({ partition: p.name, from: new Date(p.from), to: new Date(p.to) }, 'datapoints partition dropped (retention)');
      if ((retention?.deletedFromDefault ?? 0) > 0) log.info({ rows: retention?.deletedFromDefault }, 'old datapoints deleted from the default partition (retention)');
    } catch (err) {
      log.warn({ err }, 'datapoints partition maintenance failed; trying again at the next run');
    }
  }
}
