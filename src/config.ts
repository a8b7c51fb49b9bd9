/**
 * The hub's configuration: the environment read once, validated as a whole and frozen.
 * Nothing else in the hub reads `process.env`.
 * @see PROTOCOL.md §9
 */
import path from 'node:path';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  readonly host: string;
  readonly port: number;
  /** `null`: the embedded PostgreSQL kept in `dataDir/pg`. */
  readonly databaseUrl: string | null;
  readonly dataDir: string;
  /** `null`: generated on first start and kept in `dataDir`. */
  readonly jwtSecret: string | null;
  readonly jwtTtlSeconds: number;
  readonly adminUsername: string;
  /** `null`: generated and printed once when the first admin is created. */
  readonly adminPassword: string | null;
  readonly demo: boolean;
  readonly natsUrl: string | null;
  readonly maxBatchPoints: number;
  readonly queueCapacity: number;
  /** The part of the queue one sender (API token; user for login tokens) may hold, 0 < x ≤ 1. @see PROTOCOL.md §6 */
  readonly deviceQueueShare: number;
  /** Ingest messages one sender may have queued or being written at once; more are `429`. */
  readonly ingestInFlightPerToken: number;
  readonly maxFrameBytes: number;
  readonly maxUploadBytes: number;
  /** A CSV export or download whose client takes no bytes for this long is cut. */
  readonly exportStallMs: number;
  /** How long a CSV export waits for a free export slot before `503 busy`. */
  readonly exportWaitMs: number;
  readonly subscriberBufferBytes: number;
  /** Open sockets per user (login tokens) or per API token; more are refused with 429 at upgrade. */
  readonly maxSocketsPerUser: number;
  /** Open sockets per client address, counted before the token is checked. */
  readonly maxSocketsPerAddress: number;
  /** A `since` replay whose socket takes nothing for this long ends, closing the socket with 1013. */
  readonly replayStallMs: number;
  readonly logLevel: LogLevel;
  /** Run on the slow JavaScript fallback of uWebSockets.js instead of refusing to start. */
  readonly allowUwsFallback: boolean;
  /** Failed attempts after which a webhook delivery is dead-lettered. @see PROTOCOL.md §12 */
  readonly webhookMaxAttempts: number;
  /** Webhooks may reach loopback, private, link-local… addresses (tests, private networks). */
  readonly webhookAllowPrivate: boolean;
  /** Webhook attempts in flight at once, in all (at most 2 per webhook). */
  readonly webhookConcurrency: number;
}

/** Every bad variable at once, so an operator fixes them in one go. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** `npm start` turns the demo simulator on unless HUB_DEMO says otherwise. */
  readonly demoByDefault?: boolean;
  /** Relative paths (HUB_DATA_DIR) resolve against this directory. */
  readonly cwd?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads and validates the hub's variables from `env`; throws {@link ConfigError} listing every bad one. */
export function loadConfig(env: Env = process.env, options: LoadOptions = {}): Config {
  const problems: string[] = [];
  const read = new Reader(env, problems);

  const config: Config = {
    host: read.string('HUB_HOST', '127.0.0.1', (v) => (v.trim() === '' ? 'must not be empty' : null)),
    port: read.integer('HUB_PORT', 8080, 0, 65535),
    databaseUrl: read.optional('DATABASE_URL', (v) => {
      try {
        const url = new URL(v);
        return url.protocol === 'postgres:' || url.protocol === 'postgresql:'
          ? null
          : 'must be a postgres:// or postgresql:// URL';
      } catch {
        return 'must be a postgres:// or postgresql:// URL';
      }
    }),
    dataDir: path.resolve(options.cwd ?? process.cwd(), read.string('HUB_DATA_DIR', './data', (v) => (v.trim() === '' ? 'must not be empty' : null))),
    jwtSecret: read.optional('HUB_JWT_SECRET', (v) => (v.length < 32 ? 'must be at least 32 characters' : null)),
    jwtTtlSeconds: read.integer('HUB_JWT_TTL_S', 3600, 60, 31 * 24 * 3600),
    adminUsername: read.string('HUB_ADMIN_USERNAME', 'admin', (v) =>
      v.length < 2 || v.length > 50 ? 'must be 2 to 50 characters' : null,
    ),
    adminPassword: read.optional('HUB_ADMIN_PASSWORD', (v) => (v.length < 8 ? 'must be at least 8 characters' : null)),
    demo: read.boolean('HUB_DEMO', options.demoByDefault ?? false),
    natsUrl: read.optional('NATS_URL', (v) => (/^(nats|tls|wss?):\/\/./.test(v) ? null : 'must be a nats:// URL')),
    maxBatchPoints: read.integer('HUB_MAX_BATCH_POINTS', 10_000, 1, 1_000_000),
    queueCapacity: read.integer('HUB_QUEUE_CAPACITY', 200_000, 1, 100_000_000),
    deviceQueueShare: read.fraction('HUB_DEVICE_QUEUE_SHARE', 0.25),
    ingestInFlightPerToken: read.integer('HUB_INGEST_IN_FLIGHT_PER_TOKEN', 64, 1, 1_000_000),
    maxFrameBytes: read.integer('HUB_MAX_FRAME_BYTES', 1_048_576, 1024, 256 * 1_048_576),
    maxUploadBytes: read.integer('HUB_MAX_UPLOAD_BYTES', 536_870_912, 1, Number.MAX_SAFE_INTEGER),
    exportStallMs: read.integer('HUB_EXPORT_STALL_MS', 30_000, 100, 3_600_000),
    exportWaitMs: read.integer('HUB_EXPORT_WAIT_MS', 5_000, 0, 600_000),
    subscriberBufferBytes: read.integer('HUB_SUBSCRIBER_BUFFER_BYTES', 1_048_576, 1024, 1024 * 1_048_576),
    maxSocketsPerUser: read.integer('HUB_MAX_SOCKETS_PER_USER', 64, 1, 10_000_000),
    maxSocketsPerAddress: read.integer('HUB_MAX_SOCKETS_PER_ADDRESS', 1024, 1, 10_000_000),
    replayStallMs: read.integer('HUB_REPLAY_STALL_MS', 30_000, 100, 3_600_000),
    logLevel: read.oneOf('HUB_LOG_LEVEL', 'info', LOG_LEVELS),
    allowUwsFallback: read.boolean('HUB_ALLOW_UWS_FALLBACK', false),
    webhookMaxAttempts: read.integer('HUB_WEBHOOK_MAX_ATTEMPTS', 3, 1, 100),
    webhookAllowPrivate: read.boolean('HUB_WEBHOOK_ALLOW_PRIVATE', false),
    webhookConcurrency: read.integer('HUB_WEBHOOK_CONCURRENCY', 16, 1, 1024),
  };

  if (config.queueCapacity < config.maxBatchPoints) {
    problems.push(
      `HUB_QUEUE_CAPACITY (${config.queueCapacity}) must be at least HUB_MAX_BATCH_POINTS (${config.maxBatchPoints}), or a full-size batch could never be queued`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** Reads one variable at a time, recording problems instead of throwing at the first. */
class Reader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  private raw(key: string): string | undefined {
    const value = this.env[key];
    return value === undefined || value === '' ? undefined : value;
  }

  private fail<T>(key: string, value: string, why: string, fallback: T): T {
    // The value itself is left out: it may be a secret (HUB_JWT_SECRET, a URL with a password).
    this.problems.push(`${key} ${why} (got ${value.length} characters)`);
    return fallback;
  }

  string(key: string, fallback: string, check: (v: string) => string | null): string {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const why = check(value);
    return why === null ? value : this.fail(key, value, why, fallback);
  }

  optional(key: string, check: (v: string) => string | null): string | null {
    const value = this.raw(key);
    if (value === undefined) return null;
    const why = check(value);
    return why === null ? value : this.fail(key, value, why, null);
  }

  integer(key: string, fallback: number, min: number, max: number): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      this.problems.push(`${key} must be an integer from ${min} to ${max}, got "${value.slice(0, 40)}"`);
      return fallback;
    }
    return n;
  }

  /** A number greater than 0 and at most 1. */
  fraction(key: string, fallback: number): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const n = /^\d*\.?\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
    if (!(n > 0 && n <= 1)) {
      this.problems.push(`${key} must be a number greater than 0 and at most 1, got "${value.slice(0, 40)}"`);
      return fallback;
    }
    return n;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const v = value.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.problems.push(`${key} must be 1/0, true/false, yes/no or on/off, got "${value.slice(0, 40)}"`);
    return fallback;
  }

  oneOf<T extends string>(key: string, fallback: T, allowed: readonly T[]): T {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problems.push(`${key} must be one of ${allowed.join(', ')}, got "${value.slice(0, 40)}"`);
    return fallback;
  }
}
