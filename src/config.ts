/**
 * The hub's configuration: the environment read once, validated as a whole and frozen.
 * Nothing else in the hub reads `process.env`.
 * @see PROTOCOL.md §9
 */
import { readFileSync } from 'node:fs';
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
  /** Hub processes run on this machine and port (HUB_WORKERS); more than 1 needs `natsUrl`. */
  readonly workers: number;
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
  /** HUB_EXPORT_MAX_MS: the longest an export or download may last, however steadily its client reads. */
  readonly exportMaxMs: number;
  /** How long a CSV export waits for a free export slot before `503 busy`. */
  readonly exportWaitMs: number;
  readonly subscriberBufferBytes: number;
  /** HUB_PUSH_INTERVAL_MS: live points are flushed to subscribers at most this often (0: every commit). */
  readonly pushIntervalMs: number;
  /** Open sockets per user (login tokens) or per API token; more are refused with 429 at upgrade. */
  readonly maxSocketsPerUser: number;
  /** Open sockets per client address, counted before the token is checked. */
  readonly maxSocketsPerAddress: number;
  /** Requests one caller (user or API token) may have in flight over all its sockets; 429 beyond. */
  readonly maxRequestsPerCaller: number;
  /** A `since` replay whose socket takes nothing for this long ends, closing the socket with 1013. */
  readonly replayStallMs: number;
  /** Width of a `datapoints` partition, in days. @see PROTOCOL.md §16 */
  readonly partitionDays: number;
  /** Points older than this many days are dropped with their partitions; `null`: keep everything. */
  readonly retentionDays: number | null;
  readonly logLevel: LogLevel;
  /** Run on the slow JavaScript fallback of uWebSockets.js instead of refusing to start. */
  readonly allowUwsFallback: boolean;
  /** Failed attempts after which a webhook delivery is dead-lettered. @see PROTOCOL.md §12 */
  readonly webhookMaxAttempts: number;
  /** Webhooks may reach loopback, private, link-local… addresses (tests, private networks). */
  readonly webhookAllowPrivate: boolean;
  /** Webhook attempts in flight at once, in all (at most 2 per webhook). */
  readonly webhookConcurrency: number;
  /** Single sign-on through an OpenID provider; `null` (HUB_OIDC_ISSUER unset): off. @see PROTOCOL.md §17 */
  readonly oidc: OidcConfig | null;
}

/** The roles a provider's claim can map to. */
export type OidcRole = 'admin' | 'operator' | 'viewer';

/** @see PROTOCOL.md §17 */
export interface OidcConfig {
  /** The issuer identifier; discovery is `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Where the provider sends the browser back: the hub's `/api/auth/sso/callback`. */
  readonly redirectUrl: string;
  readonly scopes: string;
  /** The claim (a dotted path such as `realm_access.roles`) whose values map to roles; `null`: roles are managed in the hub. */
  readonly roleClaim: string | null;
  /** Claim value → role; when several values map, the highest role wins. */
  readonly roleMap: ReadonlyMap<string, OidcRole>;
  /** Create a user for an unknown subject. */
  readonly autoCreate: boolean;
  /** Link an unknown subject to the local user with the same (provider-verified) email. */
  readonly linkByEmail: boolean;
  /** Lower-case email domains allowed to sign in; empty: any. */
  readonly allowedDomains: readonly string[];
  /** Shown on the button: "Sign in with <name>". */
  readonly providerName: string;
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
    workers: read.integer('HUB_WORKERS', 1, 1, 256),
    maxBatchPoints: read.integer('HUB_MAX_BATCH_POINTS', 10_000, 1, 1_000_000),
    queueCapacity: read.integer('HUB_QUEUE_CAPACITY', 200_000, 1, 100_000_000),
    deviceQueueShare: read.fraction('HUB_DEVICE_QUEUE_SHARE', 0.25),
    ingestInFlightPerToken: read.integer('HUB_INGEST_IN_FLIGHT_PER_TOKEN', 64, 1, 1_000_000),
    maxFrameBytes: read.integer('HUB_MAX_FRAME_BYTES', 1_048_576, 1024, 256 * 1_048_576),
    maxUploadBytes: read.integer('HUB_MAX_UPLOAD_BYTES', 536_870_912, 1, Number.MAX_SAFE_INTEGER),
    exportStallMs: read.integer('HUB_EXPORT_STALL_MS', 30_000, 100, 3_600_000),
    exportMaxMs: read.integer('HUB_EXPORT_MAX_MS', 1_800_000, 1_000, 86_400_000),
    exportWaitMs: read.integer('HUB_EXPORT_WAIT_MS', 5_000, 0, 600_000),
    subscriberBufferBytes: read.integer('HUB_SUBSCRIBER_BUFFER_BYTES', 1_048_576, 1024, 1024 * 1_048_576),
    pushIntervalMs: read.integer('HUB_PUSH_INTERVAL_MS', 16, 0, 1000),
    maxSocketsPerUser: read.integer('HUB_MAX_SOCKETS_PER_USER', 64, 1, 10_000_000),
    maxSocketsPerAddress: read.integer('HUB_MAX_SOCKETS_PER_ADDRESS', 1024, 1, 10_000_000),
    maxRequestsPerCaller: read.integer('HUB_MAX_REQUESTS_PER_CALLER', 8, 1, 1_000_000),
    replayStallMs: read.integer('HUB_REPLAY_STALL_MS', 30_000, 100, 3_600_000),
    partitionDays: read.integer('HUB_PARTITION_DAYS', 1, 1, 366),
    retentionDays: wholeDays(read.optional('HUB_RETENTION_DAYS', (v) => (wholeDays(v) === null ? 'must be an integer from 1 to 36500' : null))),
    logLevel: read.oneOf('HUB_LOG_LEVEL', 'info', LOG_LEVELS),
    allowUwsFallback: read.boolean('HUB_ALLOW_UWS_FALLBACK', false),
    webhookMaxAttempts: read.integer('HUB_WEBHOOK_MAX_ATTEMPTS', 3, 1, 100),
    webhookAllowPrivate: read.boolean('HUB_WEBHOOK_ALLOW_PRIVATE', false),
    webhookConcurrency: read.integer('HUB_WEBHOOK_CONCURRENCY', 16, 1, 1024),
    oidc: null,
  };
  const oidc = readOidc(read, problems, config);

  if (config.queueCapacity < config.maxBatchPoints) {
    problems.push(
      `HUB_QUEUE_CAPACITY (${config.queueCapacity}) must be at least HUB_MAX_BATCH_POINTS (${config.maxBatchPoints}), or a full-size batch could never be queued`,
    );
  }
  if (config.workers > 1 && config.natsUrl === null) {
    problems.push(
      `HUB_WORKERS=${config.workers} needs NATS_URL: the workers are several hubs on one database, which share live data, revocations, presence and commands through NATS (PROTOCOL.md §15)`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({ ...config, oidc });
}

const OIDC_ROLES: readonly OidcRole[] = ['admin', 'operator', 'viewer'];

/** Is `url` on a loopback address, where plain HTTP is allowed (PROTOCOL.md §17)? */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** An https URL, or http on a loopback address. */
function secureOrLoopback(v: string): string | null {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return 'must be a URL';
  }
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && isLoopbackUrl(url)) return null;
  return 'must be an https URL (http only on 127.0.0.1, ::1 or localhost)';
}

/** The HUB_OIDC_* settings; `null` when HUB_OIDC_ISSUER is unset (SSO off). */
function readOidc(read: Reader, problems: string[], hub: Pick<Config, 'host' | 'port'>): OidcConfig | null {
  const publicUrl = read.optional('HUB_PUBLIC_URL', secureOrLoopback);
  const issuer = read.optional('HUB_OIDC_ISSUER', secureOrLoopback);
  if (issuer === null) return null;
  const clientId = read.optional('HUB_OIDC_CLIENT_ID', (v) => (v.length > 255 ? 'must be at most 255 characters' : null));
  if (clientId === null) problems.push('HUB_OIDC_CLIENT_ID is required when HUB_OIDC_ISSUER is set');
  let clientSecret = read.optional('HUB_OIDC_CLIENT_SECRET', () => null);
  const secretFile = read.optional('HUB_OIDC_CLIENT_SECRET_FILE', () => null);
  if (secretFile !== null) {
    if (clientSecret !== null) problems.push('HUB_OIDC_CLIENT_SECRET and HUB_OIDC_CLIENT_SECRET_FILE are exclusive');
    try {
      clientSecret = readFileSync(secretFile, 'utf8').trim();
    } catch (err) {
      problems.push(`HUB_OIDC_CLIENT_SECRET_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (clientSecret === null || clientSecret === '') problems.push('HUB_OIDC_CLIENT_SECRET (or HUB_OIDC_CLIENT_SECRET_FILE) is required when HUB_OIDC_ISSUER is set');
  // Without a public URL the hub's own address is the default, which a port of 0 cannot give.
  const base = publicUrl ?? (hub.port === 0 ? null : `http://${hub.host.includes(':') ? `[${hub.host}]` : hub.host}:${hub.port}`);
  let redirectUrl = read.optional('HUB_OIDC_REDIRECT_URL', secureOrLoopback);
  if (redirectUrl === null && base !== null) {
    redirectUrl = new URL('/api/auth/sso/callback', base).href;
    const why = secureOrLoopback(redirectUrl);
    if (why !== null) problems.push(`HUB_OIDC_REDIRECT_URL (derived from HUB_HOST and HUB_PORT) ${why}: set HUB_PUBLIC_URL or HUB_OIDC_REDIRECT_URL`);
  }
  if (redirectUrl === null) problems.push('HUB_OIDC_REDIRECT_URL (or HUB_PUBLIC_URL) is required when HUB_PORT is 0');
  const scopes = read.string('HUB_OIDC_SCOPES', 'openid email profile', (v) =>
    v.split(/\s+/).includes('openid') ? null : 'must include openid',
  );
  const roleClaim = read.optional('HUB_OIDC_ROLE_CLAIM', (v) => (/^[\w:/-]+(\.[\w:/-]+)*$/.test(v) ? null : 'must be a claim name or a dotted path'));
  const roleMap = new Map<string, OidcRole>();
  const mapText = read.optional('HUB_OIDC_ROLE_MAP', () => null);
  if (mapText !== null) {
    for (const pair of mapText.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
      const at = pair.lastIndexOf('=');
      const value = pair.slice(0, at).trim();
      const role = pair.slice(at + 1).trim() as OidcRole;
      if (at <= 0 || value === '' || !OIDC_ROLES.includes(role)) {
        problems.push(`HUB_OIDC_ROLE_MAP must be claim-value=role pairs (role: admin, operator or viewer) separated by commas, got "${pair.slice(0, 60)}"`);
      } else roleMap.set(value, role);
    }
    if (roleClaim === null) problems.push('HUB_OIDC_ROLE_MAP needs HUB_OIDC_ROLE_CLAIM');
  }
  const domains = read.optional('HUB_OIDC_ALLOWED_DOMAINS', (v) =>
    v.split(',').every((d) => /^[a-z0-9.-]+\.[a-z]{2,}$/i.test(d.trim())) ? null : 'must be email domains separated by commas',
  );
  const issuerHost = URL.canParse(issuer) ? new URL(issuer).host : issuer;
  const result: OidcConfig = {
    issuer,
    clientId: clientId ?? '',
    clientSecret: clientSecret ?? '',
    redirectUrl: redirectUrl ?? '',
    scopes: scopes.trim().split(/\s+/).join(' '),
    roleClaim,
    roleMap,
    autoCreate: read.boolean('HUB_OIDC_AUTO_CREATE', true),
    linkByEmail: read.boolean('HUB_OIDC_LINK_BY_EMAIL', true),
    allowedDomains: domains === null ? [] : domains.split(',').map((d) => d.trim().toLowerCase()),
    providerName: read.string('HUB_OIDC_PROVIDER_NAME', issuerHost, (v) => (v.length > 60 ? 'must be at most 60 characters' : null)),
  };
  return Object.freeze(result);
}

/** A whole number of days from 1 to 36500, or null. */
function wholeDays(v: string | null): number | null {
  const n = v !== null && /^\d+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
  return n >= 1 && n <= 36_500 ? n : null;
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

/**
 * The environment of a child hub process (HUB_WORKERS): this process's own, read here like every
 * other variable, with `overrides` on top.
 */
export function childEnvironment(overrides: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  return { ...process.env, ...overrides };
}
