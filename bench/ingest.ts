/**
 * `npm run bench:ingest`: rows/s into `datapoints`, three ways, in one run on one PostgreSQL:
 * - ceiling: one client writing the rows by binary COPY directly (no hub);
 * - hub: D device sockets sending messages of B points, W unacknowledged each, for T seconds;
 *   rows counted in the database, ack latency measured (send → ack);
 * - insert: the same rows by multi-row INSERT (what the Python system does).
 * `ratio` = hub / ceiling. Acked rows must equal stored rows.
 *
 * With --rules N (N > 0) the hub run is made twice in the same run: without rules, then with N
 * enabled rules on the ingested events (a tenth of them matching often, the rest rarely; cooldown
 * 60 s), and `rules_ratio` = rows/s with rules ÷ without.
 *
 * Flags (or BENCH_<NAME>): --devices 8 --points 1000 --window 4 --seconds 10 --events 100
 * --rules 0 --encoding json|msgpack --json. DATABASE_URL: run on that server (in a scratch database)
 * instead of an embedded PostgreSQL. BENCH_PROFILE=1: write a CPU profile of the hub.
 * --flood: one device flooding beside well-behaved ones instead (see bench/ingest-flood.ts).
 * --producer: the SDK's Producer against raw frames instead (see bench/ingest-producer.ts).
 * --prefill N, --fixed-rate R: into a table of N rows, or at a fixed pace (see bench/ingest-sustained.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pack, unpack } from 'msgpackr';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import WebSocket from 'ws';
import { COPY_DATAPOINTS_SQL, encodeCopy } from '../src/ingest/copy-encoder.js';
import { holdReferencesSql, SKIP_ROW_REFERENCE_CHECKS } from '../src/ingest/batch-sql.js';
import { Uuid7Generator, uuidToBytes } from '../src/ingest/uuid7.js';
import { adminToken, connect, flags, Latencies, machine, startBenchHub, table, type BenchHub } from './lib.js';

// --flood: the fairness scenario (bench/ingest-flood.ts), with flags of its own.
if (process.argv.includes('--flood')) {
  await import('./ingest-flood.js');
  process.exit(process.exitCode ?? 0);
}
// --producer: the SDK's Producer against raw frames (bench/ingest-producer.ts).
if (process.argv.includes('--producer')) await import('./ingest-producer.js').then(() => process.exit(process.exitCode ?? 0));
// --prefill N / --fixed-rate R: ingest into a full table, or at a fixed pace (bench/ingest-sustained.ts).
if (process.argv.some((a) => /^--(prefill|fixed-rate)(=|$)/.test(a))) {
  await import('./ingest-sustained.js');
  process.exit(process.exitCode ?? 0);
}
const opts = flags({ devices: '8', points: '1000', window: '4', seconds: '10', events: '100', rules: '0', encoding: 'json' });
const ruleCount = Number(opts.rules);
const devices = Number(opts.devices);
const pointsPerMessage = Number(opts.points);
const window = Number(opts.window);
const seconds = Number(opts.seconds);
const eventCount = Number(opts.events);
const encoding = opts.encoding === 'msgpack' ? 'msgpack' : 'json';

const profileDir = process.env.BENCH_PROFILE === '1' ? await mkdtemp(path.join(tmpdir(), 'hub-prof-')) : undefined;
const hub = await startBenchHub(
  { HUB_QUEUE_CAPACITY: String(Math.max(200_000, devices * window * pointsPerMessage * 2)), HUB_MAX_BATCH_POINTS: String(Math.max(10_000, pointsPerMessage)) },
  profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
);
const db = new pg.Client({ connectionString: hub.databaseUrl });
try {
  await db.connect();
  const token = await adminToken(hub);
  const setup = await connect(hub, token);
  const events: string[] = [];
  for (let i = 0; i < eventCount; i++) events.push((await setup.request<{ public_id: string }>('events.create', { name: `bench-ingest-${i}` })).public_id);
  // Each device is a plugin instance with its own device token and every event mapped to it.
  const deviceTokens: string[] = [];
  for (let d = 0; d < devices; d++) {
    const instance = await setup.request<{ public_id: string }>('plugin_instances.create', { plugin_id: 'bench', instance_name: `bench-device-${d}` });
    for (const [i, event] of events.entries()) {
      await setup.request('channel_mappings.create', { plugin_instance_public_id: instance.public_id, channel_id: `ch${i}`, event_public_id: event });
    }
    deviceTokens.push((await setup.request<{ token: string }>('api_tokens.create', { name: `bench-${d}`, plugin_instance_public_id: instance.public_id })).token);
  }
  await setup.close();
  const t0 = Date.now() - 3_600_000;
  /** The rows of one message: events round-robin, one ms apart. */
  const messagePoints = Array.from({ length: pointsPerMessage }, (_, i) => ({
    event: events[i % events.length] as string,
    value: Math.round(Math.random() * 100_000) / 100,
    ts: t0 + i,
  }));

  const ceiling = await runCeiling(db, messagePoints);
  await db.query('TRUNCATE datapoints');
  const cpuBefore = cpuSeconds(hub.child.pid as number);
  const viaHub = await runHub(hub, deviceTokens, messagePoints);
  const cpu = subtract(cpuSeconds(hub.child.pid as number), cpuBefore);
  const metricsText = await (await fetch(`${hub.baseUrl}/metrics`)).text();
  const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metricsText)?.[1] ?? Number.NaN);
  const batches = metric('hub_copy_batch_rows_count');
  const stored = Number((await db.query('SELECT count(*) FROM datapoints')).rows[0].count);
  await db.query('TRUNCATE datapoints');
  let withRules: { rowsPerS: number; acked: number; stored: number; triggers: number; latency: { p50: number; p99: number } } | undefined;
  if (ruleCount > 0) {
    // Values are 0..1000: a tenth of the rules match about half the points, the rest about 0.1 %.
    const rulesClient = await connect(hub, token);
    for (let r = 0; r < ruleCount; r++) {
      await rulesClient.request('rules.create', {
        name: `bench-rule-${r}`,
        event_public_id: events[r % events.length],
        operator: 'gt',
        threshold: r % 10 === 0 ? 500 : 999,
        cooldown_seconds: 60,
      });
    }
    await rulesClient.close();
    const run = await runHub(hub, deviceTokens, messagePoints, 1_000_000);
    const storedWithRules = Number((await db.query('SELECT count(*) FROM datapoints')).rows[0].count);
    const triggers = Number((await db.query(`SELECT count(*) FROM log_entries WHERE content LIKE 'Rule "bench-rule-%'`)).rows[0].count);
    withRules = { ...run, stored: storedWithRules, triggers };
    await db.query('TRUNCATE datapoints');
    if (run.acked !== storedWithRules) process.exitCode = 1;
  }
  const insert = await runInsert(db, messagePoints);
  await db.query('TRUNCATE datapoints');

  const result = {
    bench: 'ingest',
    machine: machine(),
    database: process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL 17',
    devices,
    points_per_message: pointsPerMessage,
    window,
    seconds,
    encoding,
    ceiling_rows_per_s: Math.round(ceiling),
    hub_rows_per_s: Math.round(viaHub.rowsPerS),
    insert_rows_per_s: Math.round(insert),
    ratio: Number((viaHub.rowsPerS / ceiling).toFixed(3)),
    ack_p50_ms: Number(viaHub.latency.p50.toFixed(2)),
    ack_p99_ms: Number(viaHub.latency.p99.toFixed(2)),
    acked: viaHub.acked,
    stored,
    busy: viaHub.busy,
    copy_batches: batches,
    copy_batch_rows_avg: Math.round(metric('hub_copy_batch_rows_sum') / batches),
    copy_ms_avg: Number(((1000 * metric('hub_copy_seconds_sum')) / batches).toFixed(2)),
    cpu_s_hub: Number(cpu.hub.toFixed(2)),
    cpu_s_postgres: Number(cpu.postgres.toFixed(2)),
    cpu_s_bench_client: Number(cpu.self.toFixed(2)),
    ...(withRules === undefined
      ? {}
      : {
          rules: ruleCount,
          hub_rows_per_s_with_rules: Math.round(withRules.rowsPerS),
          rules_ratio: Number((withRules.rowsPerS / viaHub.rowsPerS).toFixed(3)),
          rules_ack_p50_ms: Number(withRules.latency.p50.toFixed(2)),
          rules_ack_p99_ms: Number(withRules.latency.p99.toFixed(2)),
          rules_triggers: withRules.triggers,
          rules_acked: withRules.acked,
          rules_stored: withRules.stored,
        }),
  };
  if (opts.json) console.log(JSON.stringify(result));
  else {
    console.log(`bench:ingest — ${result.machine}; ${result.database}; ${devices} devices × ${pointsPerMessage} points, window ${window}, ${seconds} s, ${encoding}`);
    console.log(
      table([
        { path: 'ceiling: binary COPY, one client', 'rows/s': result.ceiling_rows_per_s, 'vs ceiling': 1 },
        { path: `hub: ${devices} sockets → queue → COPY`, 'rows/s': result.hub_rows_per_s, 'vs ceiling': result.ratio },
        { path: 'baseline: multi-row INSERT', 'rows/s': result.insert_rows_per_s, 'vs ceiling': Number((insert / ceiling).toFixed(3)) },
      ]),
    );
    console.log(
      `CPU during the hub run: hub ${result.cpu_s_hub} s, PostgreSQL ${result.cpu_s_postgres} s, bench client ${result.cpu_s_bench_client} s (of ${(2 * seconds).toFixed(0)} core-seconds)`,
    );
    console.log(`COPY batches: ${result.copy_batches}, ${result.copy_batch_rows_avg} rows and ${result.copy_ms_avg} ms each on average`);
    console.log(`ack latency p50 ${result.ack_p50_ms} ms, p99 ${result.ack_p99_ms} ms; acked ${result.acked} rows, stored ${result.stored}${result.acked === result.stored ? ' (equal)' : ' (MISMATCH)'}; busy replies ${result.busy}`);
    if (withRules !== undefined) {
      console.log(
        `with ${ruleCount} rules: ${result.hub_rows_per_s_with_rules} rows/s, rules_ratio ${result.rules_ratio} (aim ≥ 0.95); ack p50 ${result.rules_ack_p50_ms} ms, p99 ${result.rules_ack_p99_ms} ms; ${withRules.triggers} triggers; acked ${withRules.acked}, stored ${withRules.stored}`,
      );
    }
  }
  if (viaHub.acked !== stored) process.exitCode = 1;
} finally {
  await db.end().catch(() => undefined);
  await hub.stop();
  if (profileDir !== undefined) console.error(`hub CPU profile in ${profileDir}`);
}

/** One client, binary COPY, one transaction per message-sized batch of 10 messages. */
async function runCeiling(client: pg.Client, points: { event: string; value: number; ts: number }[]): Promise<number> {
  const ids = new Uuid7Generator();
  const source = {
    count: points.length,
    events: points.map((p) => uuidToBytes(p.event)),
    values: Float64Array.from(points.map((p) => p.value)),
    ts: Float64Array.from(points.map((p) => p.ts)),
  };
  const hold = holdReferencesSql(new Set(points.map((p) => p.event)), null);
  // As large a COPY as the hub's typical batch: all devices' windows at once.
  const perCopy = Math.max(1, Math.round((devices * window) / 2));
  let rows = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    const payload = encodeCopy(Array.from({ length: perCopy }, () => source), null, ids);
    // As the hub does: the batch's events held once (migration 0013), then the COPY.
    const stream = client.query(copyFrom(`BEGIN; ${SKIP_ROW_REFERENCE_CHECKS}; ${COPY_DATAPOINTS_SQL}`));
    await new Promise<void>((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', reject);
      stream.end(payload);
    });
    await client.query(`${hold}; COMMIT`);
    rows += perCopy * points.length;
  }
  return rows / ((performance.now() - started) / 1000);
}

/** Multi-row INSERT, 1000 rows per statement (5000 parameters). */
async function runInsert(client: pg.Client, points: { event: string; value: number; ts: number }[]): Promise<number> {
  const chunk = 1000;
  const ids = new Uuid7Generator();
  let rows = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    for (let offset = 0; offset < points.length && performance.now() < deadline; offset += chunk) {
      const slice = points.slice(offset, offset + chunk);
      const params: unknown[] = [];
      const tuples = slice.map((p, i) => {
        params.push(ids.next(), p.event, p.value, new Date(p.ts));
        return `($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, $${i * 4 + 4})`;
      });
      await client.query(`INSERT INTO datapoints (public_id, event_public_id, value, "timestamp") VALUES ${tuples.join(',')}`, params);
      rows += slice.length;
    }
  }
  return rows / ((performance.now() - started) / 1000);
}

/** D devices, each with W messages in flight, pre-encoded frames (the device's cost is not the hub's). */
async function runHub(target: BenchHub, tokens: string[], points: { event: string; value: number; ts: number }[], seqBase = 0) {
  const latency = new Latencies();
  let acked = 0;
  let busy = 0;
  const pointsJson = JSON.stringify(points);
  const frame = (id: number): string | Uint8Array =>
    encoding === 'json'
      ? `{"id":${id},"op":"ingest","data":{"seq":${seqBase + id},"points":${pointsJson}}}`
      : pack({ id, op: 'ingest', data: { seq: seqBase + id, points } });
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    tokens.map(async (token) => {
      const ws = new WebSocket(target.wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const sentAt = new Map<number, number>();
      let nextId = 1;
      let inFlight = 0;
      await new Promise<void>((resolve) => {
        const send = (): void => {
          while (inFlight < window && performance.now() < deadline) {
            const id = nextId++;
            sentAt.set(id, performance.now());
            inFlight++;
            ws.send(frame(id));
          }
          if (inFlight === 0) resolve();
        };
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          const reply = (isBinary ? unpack(data) : JSON.parse(data.toString())) as { id: number; ok: boolean; data?: { accepted: number }; error?: { code: string } };
          inFlight--;
          if (reply.ok) {
            if (reply.data?.accepted !== pointsPerMessage) throw new Error(`unexpected ack: ${JSON.stringify(reply.data)}`);
            acked += reply.data.accepted;
            latency.add(performance.now() - (sentAt.get(reply.id) as number));
          } else if (reply.error?.code === 'busy') busy++;
          else throw new Error(`ingest failed: ${JSON.stringify(reply.error)}`);
          sentAt.delete(reply.id);
          send();
        });
        send();
      });
      ws.close();
    }),
  );
  // Rows/s over the sending window plus the wait for the last acks.
  const elapsed = (performance.now() - started) / 1000;
  return { rowsPerS: acked / elapsed, acked, busy, latency: latency.summary() };
}

/** CPU seconds used so far by the hub process, all PostgreSQL processes, and this process. */
function cpuSeconds(hubPid: number): { hub: number; postgres: number; self: number } {
  const ticks = 100; // USER_HZ on Linux
  const of = (pid: string): number => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / ticks;
    } catch {
      return 0;
    }
  };
  let postgres = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres') postgres += of(pid);
    } catch {
      // The process ended meanwhile.
    }
  }
  const usage = process.cpuUsage();
  return { hub: of(String(hubPid)), postgres, self: (usage.user + usage.system) / 1e6 };
}

function subtract(a: ReturnType<typeof cpuSeconds>, b: ReturnType<typeof cpuSeconds>): ReturnType<typeof cpuSeconds> {
  return { hub: a.hub - b.hub, postgres: a.postgres - b.postgres, self: a.self - b.self };
}
