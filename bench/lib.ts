/** What the benchmarks share: flags, a hub process to measure, latency statistics, output. */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { HubClient, type Encoding, type SocketLike } from '../src/client/hub-client.js';

export const ROOT = path.resolve(import.meta.dirname, '..');

/** Parses `--name value` flags with defaults; every flag can also come from BENCH_<NAME>. */
export function flags<T extends Record<string, string>>(defaults: T): { [K in keyof T]: string } & { json: boolean } {
  const options: Record<string, { type: 'string' | 'boolean' }> = { json: { type: 'boolean' } };
  for (const key of Object.keys(defaults)) options[key] = { type: 'string' };
  const { values } = parseArgs({ options, allowPositionals: false });
  const out: Record<string, unknown> = { json: values.json === true };
  for (const [key, fallback] of Object.entries(defaults)) {
    out[key] = (values[key] as string | undefined) ?? process.env[`BENCH_${key.toUpperCase().replaceAll('-', '_')}`] ?? fallback;
  }
  return out as { [K in keyof T]: string } & { json: boolean };
}

export interface BenchHub {
  readonly port: number;
  readonly baseUrl: string;
  readonly wsUrl: string;
  /** A URL for direct PostgreSQL access to the hub's own database (the baselines use it). */
  readonly databaseUrl: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export const BENCH_ADMIN_PASSWORD = 'bench-admin-password';

/**
 * Starts a hub process: on DATABASE_URL when set, else on its own embedded PostgreSQL in a
 * temporary directory. `env` adds hub variables.
 */
export async function startBenchHub(env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<BenchHub> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'hub-bench-'));
  await chmod(dataDir, 0o711);
  // On a server given by DATABASE_URL, the bench works in a database of its own, dropped after.
  let benchDatabase: { url: string; drop(): Promise<void> } | undefined;
  const serverUrl = process.env.DATABASE_URL ?? '';
  if (serverUrl !== '') benchDatabase = await createBenchDatabase(serverUrl);
  // BENCH_PROFILE_DIR=<dir>: every bench hub writes a CPU profile there (node --cpu-prof).
  const profileDir = process.env.BENCH_PROFILE_DIR;
  if (profileDir !== undefined && profileDir !== '' && !nodeArgs.includes('--cpu-prof')) nodeArgs = [...nodeArgs, '--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const entry = process.env.BENCH_ENTRY === 'src' ? ['--import', 'tsx', path.join(ROOT, 'src/main.ts')] : [path.join(ROOT, 'dist/main.js')];
  const child = spawn(process.execPath, [...nodeArgs, ...entry], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: benchDatabase?.url ?? '',
      HUB_PORT: '0',
      HUB_DATA_DIR: dataDir,
      HUB_ADMIN_PASSWORD: BENCH_ADMIN_PASSWORD,
      HUB_LOG_LEVEL: 'info',
      HUB_DEMO: '0',
      // The load generator is one address and one user opening thousands of sockets.
      HUB_MAX_SOCKETS_PER_USER: '1000000',
      HUB_MAX_SOCKETS_PER_ADDRESS: '1000000',
      // …and has many requests in flight over them (bench:crud: 50 sockets × 8).
      HUB_MAX_REQUESTS_PER_CALLER: '1000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  // BENCH_HUB_LOG=<file>: keep the hub's log lines there (for a run that goes wrong).
  const logFile = process.env.BENCH_HUB_LOG;
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (logFile !== undefined) appendFileSync(logFile, chunk);
      if (out.length > 100_000) return;
      out += chunk.toString();
      const match = out.match(/"port":(\d+),"msg":"listening"/);
      if (match !== null) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`hub exited with ${code}:\n${out}`)));
    setTimeout(() => reject(new Error(`hub did not listen within 60 s:\n${out.slice(-5000)}`)), 60_000).unref();
  });
  let databaseUrl = benchDatabase?.url ?? '';
  if (databaseUrl === '') {
    const password = (await readFile(path.join(dataDir, 'secrets/pg-password'), 'utf8')).trim();
    databaseUrl = `postgres://postgres:${encodeURIComponent(password)}@localhost/postgres?host=${encodeURIComponent(path.join(dataDir, 'run'))}&port=5432`;
  }
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    databaseUrl,
    child,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      await benchDatabase?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A fresh database on the server of `url`. */
async function createBenchDatabase(url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const pg = (await import('pg')).default;
  const name = `hub_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Logs in as the bench admin; returns the access token. */
export async function adminToken(hub: BenchHub): Promise<string> {
  const res = await fetch(`${hub.baseUrl}/api/auth/login`, {
    method: 'POST',
    body: JSON.stringify({ username: 'admin', password: BENCH_ADMIN_PASSWORD }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A socket through the SDK (Node's `ws`, bearer header). */
export function connect(hub: BenchHub, token: string, encoding: Encoding = 'json'): Promise<HubClient> {
  return HubClient.connect({
    url: hub.wsUrl,
    token,
    encoding,
    timeoutMs: 120_000,
    createSocket: (url, t) => new WebSocket(url, { headers: { authorization: `Bearer ${t}` }, perMessageDeflate: false }) as unknown as SocketLike,
  });
}

/** Percentile of sorted values (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Latencies kept compactly; summarised once at the end. */
export class Latencies {
  private values: number[] = [];
  /** All the values of several, summarised together. */
  static merge(parts: readonly (Latencies | undefined)[]): Latencies {
    const out = new Latencies();
    for (const part of parts) if (part !== undefined) for (const v of part.values) out.values.push(v);
    return out;
  }
  add(ms: number): void {
    this.values.push(ms);
  }
  summary(): { p50: number; p99: number; max: number; count: number } {
    const sorted = Float64Array.from(this.values).sort();
    const arr = Array.from(sorted);
    return { p50: percentile(arr, 50), p99: percentile(arr, 99), max: arr[arr.length - 1] ?? Number.NaN, count: arr.length };
  }
}

/** The machine, for the record next to the numbers. */
export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/** Prints rows as an aligned table. */
export function table(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return '';
  const keys = Object.keys(rows[0] as object);
  const cell = (v: string | number | undefined) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : (v ?? ''));
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => cell(r[k]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i] as number)).join('  ');
  return [line(keys), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(keys.map((k) => cell(r[k]))))].join('\n');
}

/** The hub's stage trace from `/metrics` (hub_ingest_stage_ms): stage → p50, p99, max in ms. */
export function stageSummary(metricsText: string): Record<string, { p50: number; p99: number; max: number }> {
  const out: Record<string, { p50: number; p99: number; max: number }> = {};
  for (const m of metricsText.matchAll(/^hub_ingest_stage_ms\{stage="([^"]+)",quantile="([^"]+)"\} (\S+)$/gm)) {
    const q = (out[m[1] as string] ??= { p50: 0, p99: 0, max: 0 });
    const v = Number(Number(m[3]).toFixed(2));
    if (m[2] === '0.5') q.p50 = v;
    else if (m[2] === '0.99') q.p99 = v;
    else q.max = v;
  }
  return out;
}
