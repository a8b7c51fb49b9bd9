/**
 * `npm run bench:connections`: N authenticated sockets (default 10 000) held open on one hub,
 * opened by several client processes (bench/connections-worker.ts), while a device ingests at a
 * steady rate. Reports connect time p50/p99, the hub's RSS before and after (and per socket),
 * and the device's ack latency before the sockets (the baseline), while they open, and while
 * they are held, with the ratio to the baseline.
 *
 * Flags (or BENCH_<NAME>): --sockets 10000 --processes 4 --users 10 --concurrency 100 (per
 * process) --rate 1000 (points/s) --points 50 (per message) --baseline 5 --hold 10 (s) --json.
 * Needs open files for every socket in both the hub and the workers: the npm script raises
 * `ulimit -n` to the hard limit; it refuses to start when that is too low.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminToken, connect, flags, Latencies, machine, percentile, startBenchHub, table, type BenchHub } from './lib.js';
import type { WorkerReport, WorkerTask } from './connections-worker.js';

const opts = flags({ sockets: '10000', processes: '4', users: '10', concurrency: '100', rate: '1000', points: '50', baseline: '5', hold: '10' });
const sockets = Number(opts.sockets);
const processes = Number(opts.processes);
const userCount = Number(opts.users);
const pointsPerMessage = Number(opts.points);
const messagesPerSecond = Number(opts.rate) / pointsPerMessage;

const limit = openFilesLimit();
const needed = sockets + 1_000;
if (limit !== null && limit < needed) {
  console.error(`open files limit is ${limit}; ${sockets} sockets need about ${needed} (raise it: ulimit -n ${needed})`);
  process.exit(2);
}

const hub = await startBenchHub({
  HUB_MAX_SOCKETS_PER_USER: String(sockets * 2),
  HUB_MAX_SOCKETS_PER_ADDRESS: String(sockets * 2),
  HUB_LOG_LEVEL: 'info',
});
const workers: ChildProcess[] = [];
try {
  const admin = await connect(hub, await adminToken(hub));
  const event = (await admin.request<{ public_id: string }>('events.create', { name: 'connections-bench', unit: 'u' })).public_id;
  const instance = await admin.request<{ public_id: string }>('plugin_instances.create', { plugin_id: 'bench', instance_name: 'connections-device' });
  await admin.request('channel_mappings.create', { plugin_instance_public_id: instance.public_id, channel_id: 'ch0', event_public_id: event });
  const deviceToken = (await admin.request<{ token: string }>('api_tokens.create', { name: 'connections-device', plugin_instance_public_id: instance.public_id })).token;
  // The sockets belong to several users (per-user limits are real), each with a login token.
  const tokens: string[] = [];
  for (let u = 0; u < userCount; u++) {
    const username = `conn-user-${u}`;
    const password = `conn-password-${u}`;
    await admin.request('users.create', { username, password, role: 'viewer' });
    const res = await fetch(`${hub.baseUrl}/api/auth/login`, { method: 'POST', body: JSON.stringify({ username, password }) });
    if (!res.ok) throw new Error(`login of ${username}: HTTP ${res.status}`);
    tokens.push(((await res.json()) as { access_token: string }).access_token);
  }
  await admin.close();

  // The device: a steady stream of ingest messages, each ack timed and filed under the phase.
  const device = await connect(hub, deviceToken);
  const phases = { baseline: new Latencies(), opening: new Latencies(), holding: new Latencies() };
  // A holder, not a let: the ingest loop reads the phase the main flow sets.
  const now: { phase: keyof typeof phases | 'done' } = { phase: 'baseline' };
  let ingestErrors = 0;
  const ingesting = (async () => {
    let seq = 0;
    let next = performance.now();
    while (now.phase !== 'done') {
      const ts = Date.now();
      const points = Array.from({ length: pointsPerMessage }, (_, k) => ({ channel: 'ch0', value: k, ts }));
      const during = now.phase;
      const t0 = performance.now();
      try {
        await device.request('ingest', { seq: ++seq, points });
        phases[during].add(performance.now() - t0);
      } catch {
        ingestErrors++;
      }
      next += 1000 / messagesPerSecond;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
  })();

  await sleep(Number(opts.baseline) * 1000);
  const rssBefore = await hubMetric(hub, 'hub_process_resident_memory_bytes');

  now.phase = 'opening';
  const opening = performance.now();
  const perWorker = Array.from({ length: processes }, (_, i) => Math.floor(sockets / processes) + (i < sockets % processes ? 1 : 0));
  const reports = await Promise.all(
    perWorker.map((count, i) => {
      const task: WorkerTask = {
        wsUrl: hub.wsUrl,
        // Each worker takes every processes-th token, so every user is spread over the workers.
        tokens: tokens.filter((_, t) => t % processes === i % processes || tokens.length < processes),
        sockets: count,
        concurrency: Number(opts.concurrency),
        probeEvery: 100,
      };
      return startWorker(task, workers);
    }),
  );
  const rampS = (performance.now() - opening) / 1000;

  now.phase = 'holding';
  await sleep(Number(opts.hold) * 1000);
  const rssAfter = await hubMetric(hub, 'hub_process_resident_memory_bytes');
  const connectionsGauge = await hubMetric(hub, 'hub_ws_connections');
  now.phase = 'done';
  await ingesting;
  await device.close();
  for (const w of workers) w.send({ kind: 'close' });
  await Promise.all(workers.map((w) => new Promise((resolve) => (w.exitCode !== null ? resolve(null) : w.once('exit', resolve)))));

  const connectMs = Float64Array.from(reports.flatMap((r) => r.connectMs)).sort();
  const connectSorted = Array.from(connectMs);
  const opened = reports.reduce((n, r) => n + r.opened, 0);
  const failed = reports.reduce((n, r) => n + r.failed, 0);
  const probes = reports.reduce((n, r) => n + r.probes, 0);
  const probesOk = reports.reduce((n, r) => n + r.probesOk, 0);
  const base = phases.baseline.summary();
  const during = phases.opening.summary();
  const held = phases.holding.summary();
  const mb = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));
  const r2 = (n: number) => Number(n.toFixed(2));
  const result = {
    bench: 'connections',
    machine: machine(),
    sockets,
    processes,
    users: userCount,
    opened,
    failed,
    first_error: reports.find((r) => r.firstError !== null)?.firstError ?? null,
    hub_connections_gauge: connectionsGauge,
    probes_ok: `${probesOk}/${probes}`,
    ramp_s: r2(rampS),
    connect_p50_ms: r2(percentile(connectSorted, 50)),
    connect_p99_ms: r2(percentile(connectSorted, 99)),
    connect_max_ms: r2(connectSorted[connectSorted.length - 1] ?? Number.NaN),
    hub_rss_before_mb: mb(rssBefore),
    hub_rss_after_mb: mb(rssAfter),
    hub_bytes_per_socket: opened > 0 ? Math.round((rssAfter - rssBefore) / opened) : null,
    ingest_points_per_s: Number(opts.rate),
    ack_baseline_p50_ms: r2(base.p50),
    ack_baseline_p99_ms: r2(base.p99),
    ack_opening_p50_ms: r2(during.p50),
    ack_opening_p99_ms: r2(during.p99),
    ack_holding_p50_ms: r2(held.p50),
    ack_holding_p99_ms: r2(held.p99),
    ack_holding_p99_ratio: r2(held.p99 / base.p99),
    ingest_errors: ingestErrors,
  };
  if (opts.json) console.log(JSON.stringify(result));
  else {
    console.log(`bench:connections — ${result.machine}; ${sockets} sockets of ${userCount} users from ${processes} processes; device ingesting ${opts.rate} points/s`);
    console.log(
      `sockets: ${opened} open (${failed} failed${result.first_error === null ? '' : `, first: ${result.first_error}`}); hub gauge ${connectionsGauge}; auth.me probes ${result.probes_ok}; opened in ${result.ramp_s} s`,
    );
    console.log(`connect: p50 ${result.connect_p50_ms} ms, p99 ${result.connect_p99_ms} ms, max ${result.connect_max_ms} ms`);
    console.log(`hub RSS: ${result.hub_rss_before_mb} MB before, ${result.hub_rss_after_mb} MB with the sockets open (${result.hub_bytes_per_socket} bytes per socket)`);
    console.log(
      table([
        { 'ingest acks': 'baseline (no sockets)', count: base.count, 'p50 ms': base.p50, 'p99 ms': base.p99, 'max ms': base.max },
        { 'ingest acks': `while ${sockets} open`, count: during.count, 'p50 ms': during.p50, 'p99 ms': during.p99, 'max ms': during.max },
        { 'ingest acks': `${sockets} held`, count: held.count, 'p50 ms': held.p50, 'p99 ms': held.p99, 'max ms': held.max },
      ]),
    );
    console.log(`ack p99 held / baseline: ${result.ack_holding_p99_ratio}; ingest errors: ${ingestErrors}`);
  }
  process.exitCode = failed === 0 && ingestErrors === 0 && probesOk === probes ? 0 : 1;
} finally {
  for (const w of workers) if (w.exitCode === null) w.kill();
  await hub.stop();
}

/** Forks a worker with `task`; resolves with its report once its sockets are open. */
function startWorker(task: WorkerTask, all: ChildProcess[]): Promise<WorkerReport> {
  const child = fork(path.join(import.meta.dirname, 'connections-worker.ts'), [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  all.push(child);
  return new Promise((resolve, reject) => {
    child.once('message', (message: { kind: 'report'; report: WorkerReport }) => resolve(message.report));
    child.once('exit', (code) => reject(new Error(`a worker exited with ${code} before reporting`)));
    child.send({ kind: 'start', task });
  });
}

/** One unlabelled (or summed) metric from the hub's /metrics. */
async function hubMetric(target: BenchHub, name: string): Promise<number> {
  const text = await (await fetch(`${target.baseUrl}/metrics`)).text();
  let sum = 0;
  let found = false;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) {
    sum += Number(match[1]);
    found = true;
  }
  if (!found) throw new Error(`/metrics has no ${name}`);
  return sum;
}

/** The soft limit of open files of this process (the hub and workers inherit it), if known. */
function openFilesLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    return null;
  }
}
