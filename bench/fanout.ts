/**
 * `npm run bench:fanout`: live fan-out through the hub against the same topology through
 * Mosquitto (MQTT QoS 0) on 127.0.0.1:1883, in one run. S subscribers over E events (each
 * subscribes to one), held by `--workers` child processes (bench/fanout-worker.ts) so that the
 * load generator is not what is measured; one publisher offers R points/s.
 *
 * For each system:
 * - the fixed rate R for T s: delivered points/s, latency p50/p99 (publisher send → subscriber
 *   receive; through the hub this includes the COPY and its commit), points lost, and the CPU
 *   seconds of the hub process (and PostgreSQL's) / of the Mosquitto process per million
 *   delivered points, from /proc;
 * - a ramp from `--ramp-start` (×`--ramp-factor` a step, `--ramp-seconds` each) to find the
 *   saturation: the highest offered rate delivered with p99 < 50 ms and nothing lost.
 * Then the hub's memory per idle socket.
 *
 * `--json` keeps the keys of earlier versions (`p99_ms` is at the fixed rate) and adds
 * `hub_cpu_per_point_vs_mosquitto` (hub CPU per delivered point ÷ Mosquitto's) and
 * `saturation_ratio` (points delivered at the hub's saturation ÷ at Mosquitto's).
 *
 * Flags (or BENCH_<NAME>): --subscribers 1000 --events 100 --rate 20000 --seconds 10
 * --workers 4 --ramp-start 2000 --ramp-factor 1.5 --ramp-seconds 3 --ramp-steps 10
 * --idle 10000 --warmup 2 --broker private --json. Each system's fixed-rate run follows `--warmup`
 * seconds at that rate, not counted (JIT, connections, first GCs), for both alike.
 * `--broker private` (the default) starts a Mosquitto of its own (`--mosquitto` binary) on a free
 * port with `set_tcp_nodelay true`, as the hub's sockets are (uWS and ws set TCP_NODELAY): the
 * Debian default leaves Nagle on, which alone holds a subscriber's messages ~40 ms. The MQTT
 * clients set it too. `--broker mqtt://host:port` uses a running broker instead (its process found
 * by name for the CPU figure). No broker: the Mosquitto side is skipped with a note.
 *
 * `--hubs 2` (PROTOCOL.md §15) measures several hubs instead: in the same run, the fixed rate
 * through 1 hub (every subscriber and the device on it), then through N hubs on one database
 * and a private nats-server (subscribers spread over the hubs by worker, one device per hub, the
 * ticks shared among them); delivered points/s, p99, and the CPU seconds of each hub process,
 * of nats-server and of PostgreSQL per million delivered points. No ramp, no Mosquitto.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import pg from 'pg';
import WebSocket from 'ws';
import { bucketMs, clockMs, HISTOGRAM_BUCKETS, type WorkerCommand, type WorkerReply } from './fanout-worker.js';
import { adminToken, BENCH_ADMIN_PASSWORD, connect, flags, machine, ROOT, startBenchHub, table, type BenchHub } from './lib.js';

const opts = flags({
  subscribers: '1000',
  events: '100',
  rate: '20000',
  seconds: '10',
  workers: '4',
  'ramp-start': '2000',
  'ramp-factor': '1.5',
  'ramp-seconds': '3',
  'ramp-steps': '10',
  idle: '10000',
  broker: 'private',
  mosquitto: 'mosquitto',
  warmup: '2',
  hubs: '1',
  'nats-server': 'nats-server',
});
const subscribers = Number(opts.subscribers);
const eventCount = Number(opts.events);
const rate = Number(opts.rate);
const seconds = Number(opts.seconds);
const workerCount = Math.max(1, Number(opts.workers));
const rampStart = Number(opts['ramp-start']);
const rampFactor = Number(opts['ramp-factor']);
const rampSeconds = Number(opts['ramp-seconds']);
const rampSteps = Number(opts['ramp-steps']);
const idleSockets = Number(opts.idle);
const TICK_MS = 10;
const DRAIN_MS = 1000;
/** A ramp step passes with p99 under this and nothing lost. */
const SATURATION_P99_MS = 50;
const load = loadavg().map((l) => Number(l.toFixed(2)));

interface Step {
  offered: number;
  deliveredPerS: number;
  expected: number;
  delivered: number;
  lost: number;
  p50: number;
  p99: number;
  max: number;
  /** CPU seconds of the system's process (hub or Mosquitto), of PostgreSQL, and of the workers. */
  cpu: number;
  cpuPostgres: number;
  cpuWorkers: number;
}

interface System {
  /** Offers the points of one tick. */
  publish(byEvent: Map<string, [number, number][]>): void;
  pid: number | undefined;
  close(): Promise<void>;
}

const hubCount = Math.max(1, Number(opts.hubs));
const HUB_ENV = { HUB_QUEUE_CAPACITY: '1000000', HUB_INGEST_IN_FLIGHT_PER_TOKEN: '100000' };
/** With --hubs, every hub must accept the others' tokens. */
const SHARED_JWT_SECRET = 'bench-fanout-hubs-secret-0123456789abcdef';
let workers: Worker[] = [];
let db: pg.Client;
if (hubCount >= 2) {
  await severalHubs(hubCount);
  process.exit(0);
}
const hub = await startBenchHub(HUB_ENV);
db = new pg.Client({ connectionString: hub.databaseUrl });
try {
  await db.connect();
  const token = await adminToken(hub);
  const setup = await connect(hub, token);
  const events: string[] = [];
  for (let i = 0; i < eventCount; i++) events.push((await setup.request<{ public_id: string }>('events.create', { name: `fanout-${i}` })).public_id);
  const topicsOf = (i: number) => events[i % events.length] as string;
  const subscribersOf = new Map<string, number>();
  for (let i = 0; i < subscribers; i++) subscribersOf.set(topicsOf(i), (subscribersOf.get(topicsOf(i)) ?? 0) + 1);

  // Memory first, on a fresh heap: after the load runs, garbage collection would blur it.
  const idle = await idleMemory(hub, token);

  workers = await startWorkers(workerCount);
  const hubSide = await openHub(hub, token, events);
  await warmUp(hubSide, subscribersOf);
  const hubFixed = await measure(hubSide, rate, seconds, subscribersOf);
  const hubRamp = await ramp(hubSide, subscribersOf);
  await hubSide.close();
  for (const w of workers) w.send({ cmd: 'close' });
  await Promise.all(workers.map((w) => w.exited));

  let mqttFixed: Step | undefined;
  let mqttRamp: Step[] = [];
  let mqttNote = '';
  const broker = opts.broker === 'private' ? await startMosquitto().catch((err: unknown) => err as Error) : { url: opts.broker, pid: undefined, stop: async () => undefined };
  try {
    if (broker instanceof Error) throw broker;
    workers = await startWorkers(workerCount);
    const mqttSide = await openMosquitto(events, broker.url, broker.pid ?? pidOf('mosquitto'));
    await warmUp(mqttSide, subscribersOf);
    mqttFixed = await measure(mqttSide, rate, seconds, subscribersOf);
    mqttRamp = await ramp(mqttSide, subscribersOf);
    await mqttSide.close();
  } catch (err) {
    mqttNote = `Mosquitto skipped: ${(err as Error).message}`;
  } finally {
    for (const w of workers) w.send({ cmd: 'close' });
    await Promise.all(workers.map((w) => w.exited));
    workers = [];
    if (!(broker instanceof Error)) await broker.stop();
  }
  await setup.close();

  const perMillion = (cpu: number, s: Step) => (s.delivered > 0 ? (cpu * 1e6) / s.delivered : Number.NaN);
  const saturation = (steps: Step[]) => [...steps].reverse().find(passes);
  const hubSat = saturation(hubRamp);
  const mqttSat = saturation(mqttRamp);
  const r2 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? null : Number(n.toFixed(2)));
  const result = {
    bench: 'fanout',
    machine: machine(),
    load_average_at_start: load,
    subscribers,
    events: eventCount,
    workers: workerCount,
    rate_points_per_s: rate,
    seconds,
    hub_points_per_s: Math.round(hubFixed.deliveredPerS),
    mosquitto_points_per_s: mqttFixed === undefined ? null : Math.round(mqttFixed.deliveredPerS),
    ratio: mqttFixed === undefined ? null : Number((hubFixed.deliveredPerS / mqttFixed.deliveredPerS).toFixed(3)),
    p50_ms: r2(hubFixed.p50),
    p99_ms: r2(hubFixed.p99),
    max_ms: r2(hubFixed.max),
    hub_lost: hubFixed.lost,
    mosquitto_p50_ms: r2(mqttFixed?.p50),
    mosquitto_p99_ms: r2(mqttFixed?.p99),
    mosquitto_max_ms: r2(mqttFixed?.max),
    mosquitto_lost: mqttFixed?.lost ?? null,
    hub_cpu_s_per_million: r2(perMillion(hubFixed.cpu, hubFixed)),
    hub_postgres_cpu_s_per_million: r2(perMillion(hubFixed.cpuPostgres, hubFixed)),
    mosquitto_cpu_s_per_million: mqttFixed === undefined ? null : r2(perMillion(mqttFixed.cpu, mqttFixed)),
    hub_cpu_per_point_vs_mosquitto: mqttFixed === undefined ? null : Number((perMillion(hubFixed.cpu, hubFixed) / perMillion(mqttFixed.cpu, mqttFixed)).toFixed(3)),
    hub_saturation_offered_per_s: hubSat?.offered ?? null,
    hub_saturation_delivered_per_s: hubSat === undefined ? null : Math.round(hubSat.deliveredPerS),
    mosquitto_saturation_offered_per_s: mqttSat?.offered ?? null,
    mosquitto_saturation_delivered_per_s: mqttSat === undefined ? null : Math.round(mqttSat.deliveredPerS),
    saturation_ratio: hubSat === undefined || mqttSat === undefined ? null : Number((hubSat.deliveredPerS / mqttSat.deliveredPerS).toFixed(3)),
    idle_sockets: idle.sockets,
    bytes_per_idle_socket: Math.round(idle.bytesPerSocket),
  };
  if (opts.json) console.log(JSON.stringify(result));
  else {
    console.log(`bench:fanout — ${result.machine}; load average at start ${load.join(' ')}`);
    console.log(
      `${subscribers} subscribers over ${eventCount} events in ${workerCount} worker processes; ${rate} points/s offered (${(rate * subscribers) / eventCount} deliveries/s), ${seconds} s`,
    );
    const row = (name: string, s: Step | undefined, cpuPerM: number | null) =>
      s === undefined
        ? { system: name, 'delivered/s': 'skipped', lost: '', 'p50 ms': '', 'p99 ms': '', 'max ms': '', 'CPU s per M': '' }
        : { system: name, 'delivered/s': Math.round(s.deliveredPerS), lost: s.lost, 'p50 ms': s.p50, 'p99 ms': s.p99, 'max ms': s.max, 'CPU s per M': cpuPerM ?? '' };
    console.log(
      table([
        row('hub (ingest → COPY → commit → push)', hubFixed, result.hub_cpu_s_per_million),
        row('Mosquitto, MQTT QoS 0', mqttFixed, result.mosquitto_cpu_s_per_million),
      ]),
    );
    console.log(
      `CPU per delivered point, hub ÷ Mosquitto: ${result.hub_cpu_per_point_vs_mosquitto} (aim ≤ 0.5); PostgreSQL beside the hub: ${result.hub_postgres_cpu_s_per_million} s per M`,
    );
    const rampRows = (name: string, steps: Step[]) =>
      steps.map((s) => ({ system: name, offered: s.offered, 'delivered/s': Math.round(s.deliveredPerS), lost: s.lost, 'p99 ms': s.p99, passes: passes(s) ? 'yes' : 'no' }));
    console.log(table([...rampRows('hub', hubRamp), ...rampRows('Mosquitto', mqttRamp)]));
    console.log(
      `saturation (p99 < ${SATURATION_P99_MS} ms, nothing lost): hub ${result.hub_saturation_offered_per_s ?? 'none'} offered, Mosquitto ${result.mosquitto_saturation_offered_per_s ?? 'none'}; delivered ratio ${result.saturation_ratio} (aim ≥ 1.5)`,
    );
    if (mqttNote !== '') console.log(mqttNote);
    console.log(`memory: ${result.bytes_per_idle_socket} bytes per idle socket (RSS delta over ${result.idle_sockets} idle sockets)`);
  }
} finally {
  for (const w of workers) w.child.kill();
  await db.end().catch(() => undefined);
  await hub.stop();
}

function passes(s: Step): boolean {
  return s.lost === 0 && s.p99 < SATURATION_P99_MS;
}

interface Worker {
  child: ChildProcess;
  send(command: WorkerCommand): void;
  next(): Promise<WorkerReply>;
  exited: Promise<void>;
}

async function startWorkers(n: number): Promise<Worker[]> {
  return Array.from({ length: n }, () => {
    const child = fork(path.join(import.meta.dirname, 'fanout-worker.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const replies: WorkerReply[] = [];
    let waiting: ((r: WorkerReply) => void) | undefined;
    child.on('message', (reply: WorkerReply) => {
      if (waiting !== undefined) {
        const w = waiting;
        waiting = undefined;
        w(reply);
      } else replies.push(reply);
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return {
      child,
      exited,
      send: (command) => void child.send(command),
      next: () => {
        const queued = replies.shift();
        if (queued !== undefined) return Promise.resolve(queued);
        return new Promise<WorkerReply>((resolve) => {
          waiting = resolve;
        });
      },
    };
  });
}

/** Hands each worker its share of the subscribers (subscriber i watches event i mod E). */
async function openSubscribers(command: (topics: string[], worker: number) => WorkerCommand, topicOf: (i: number) => string): Promise<void> {
  const shares: string[][] = workers.map(() => []);
  for (let i = 0; i < subscribers; i++) shares[i % workers.length]?.push(topicOf(i));
  workers.forEach((w, k) => w.send(command(shares[k] as string[], k)));
  for (const w of workers) {
    const reply = await w.next();
    if (reply.kind === 'error') throw new Error(reply.message);
  }
}

async function openHub(target: BenchHub, token: string, events: string[]): Promise<System> {
  await openSubscribers((topics) => ({ cmd: 'open', kind: 'hub', url: target.wsUrl, token, topics }), (i) => events[i % events.length] as string);
  const device = await connect(target, token);
  return {
    pid: target.child.pid,
    publish: (byEvent) => {
      const points: { event: string; value: number; ts: number }[] = [];
      for (const [event, list] of byEvent) for (const [ts, value] of list) points.push({ event, value, ts });
      device.fire('ingest', { points });
    },
    close: async () => {
      await device.close();
    },
  };
}

async function openMosquitto(events: string[], url: string, pid: number | undefined): Promise<System> {
  const publisher = await new Promise<mqtt.MqttClient>((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000 });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
  noDelay(publisher);
  await openSubscribers((topics) => ({ cmd: 'open', kind: 'mqtt', url, topics }), (i) => `bench/${events[i % events.length]}`);
  return {
    pid,
    publish: (byEvent) => {
      for (const [event, points] of byEvent) publisher.publish(`bench/${event}`, JSON.stringify(points), { qos: 0 });
    },
    close: async () => {
      await publisher.endAsync();
    },
  };
}

/** Offers `offered` points/s for `secs` s, waits for stragglers, and collects the workers' counts. */
async function measure(system: System, offered: number, secs: number, subscribersOf: Map<string, number>): Promise<Step> {
  for (const w of workers) w.send({ cmd: 'start' });
  await new Promise((r) => setTimeout(r, 50));
  const before = await cpuSnapshot(system.pid);
  let expected = 0;
  await drive(offered, secs, [...subscribersOf.keys()], (byEvent) => {
    for (const [event, list] of byEvent) expected += list.length * (subscribersOf.get(event) ?? 0);
    system.publish(byEvent);
  });
  await new Promise((r) => setTimeout(r, DRAIN_MS));
  const after = await cpuSnapshot(system.pid);
  const histogram = new Float64Array(HISTOGRAM_BUCKETS);
  let delivered = 0;
  for (const w of workers) w.send({ cmd: 'stop' });
  for (const w of workers) {
    const reply = await w.next();
    if (reply.kind !== 'stats') throw new Error(`worker: ${JSON.stringify(reply)}`);
    delivered += reply.delivered;
    for (const [i, n] of reply.histogram) histogram[i] = (histogram[i] ?? 0) + n;
  }
  const quantile = (q: number): number => {
    let seen = 0;
    for (let i = 0; i < histogram.length; i++) {
      seen += histogram[i] as number;
      if (seen >= q * delivered && seen > 0) return bucketMs(i);
    }
    return Number.NaN;
  };
  return {
    offered,
    deliveredPerS: delivered / secs,
    expected,
    delivered,
    lost: Math.max(0, expected - delivered),
    p50: quantile(0.5),
    p99: quantile(0.99),
    max: quantile(1),
    cpu: after.system - before.system,
    cpuPostgres: after.postgres - before.postgres,
    cpuWorkers: after.workers - before.workers,
  };
}

/** `--warmup` seconds at the fixed rate, not counted. */
async function warmUp(system: System, subscribersOf: Map<string, number>): Promise<void> {
  const secs = Number(opts.warmup);
  if (secs <= 0) return;
  await drive(rate, secs, [...subscribersOf.keys()], (byEvent) => system.publish(byEvent));
  await new Promise((r) => setTimeout(r, DRAIN_MS));
}

/** A Mosquitto of the bench's own on a free port: Nagle off, nothing persisted, no limit on QoS 0 queues. */
async function startMosquitto(): Promise<{ url: string; pid: number | undefined; stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-mosquitto-'));
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'set_tcp_nodelay true', 'persistence false', 'max_queued_messages 0', 'log_dest none', ''].join('\n'));
  const child = spawn(opts.mosquitto, ['-c', conf], { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) => child.once('error', reject));
  await Promise.race([waitPort(port, 'mosquitto'), failed]);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Nagle off on an MQTT client's socket, as the hub's clients (ws) have it. */
function noDelay(client: mqtt.MqttClient): void {
  (client.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
}

/** Steps up the offered rate until a step fails (or the steps run out). */
async function ramp(system: System, subscribersOf: Map<string, number>): Promise<Step[]> {
  const steps: Step[] = [];
  let offered = rampStart;
  for (let i = 0; i < rampSteps; i++) {
    const step = await measure(system, Math.round(offered), rampSeconds, subscribersOf);
    steps.push(step);
    if (!passes(step)) break;
    offered *= rampFactor;
  }
  return steps;
}

/** Offers `offered` points/s spread over `events`, in a message every TICK_MS, each point stamped with its send time. */
async function drive(offered: number, secs: number, events: readonly string[], send: (byEvent: Map<string, [number, number][]>) => void): Promise<void> {
  const perTick = Math.max(1, Math.round((offered * TICK_MS) / 1000));
  const started = performance.now();
  const deadline = started + secs * 1000;
  let next = started;
  let k = 0;
  while (performance.now() < deadline) {
    const byEvent = new Map<string, [number, number][]>();
    const now = clockMs();
    for (let i = 0; i < perTick; i++) {
      const event = events[k++ % events.length] as string;
      const list = byEvent.get(event) ?? [];
      list.push([now, k]);
      byEvent.set(event, list);
    }
    send(byEvent);
    next += TICK_MS;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

/**
 * CPU seconds (user + system) so far of a process, of the hub's PostgreSQL server (its processes as
 * pg_stat_activity lists them: other PostgreSQL servers on a shared machine are not counted) and
 * of the workers.
 */
async function cpuSnapshot(pid: number | undefined): Promise<{ system: number; postgres: number; workers: number }> {
  const { rows } = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity');
  const postgres = rows.reduce((n, r) => n + cpuOf(r.pid), 0);
  return { system: pid === undefined ? 0 : cpuOf(pid), postgres, workers: workers.reduce((n, w) => n + cpuOf(w.child.pid ?? 0), 0) };
}

function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The pid of the process named `comm` (Mosquitto, started outside the bench), if one can be seen. */
function pidOf(comm: string): number | undefined {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm) return Number(p);
    } catch {
      // The process ended meanwhile.
    }
  }
  return undefined;
}

/** RSS of the hub process before and after opening `idleSockets` sockets that do nothing. */
async function idleMemory(target: BenchHub, token: string): Promise<{ sockets: number; bytesPerSocket: number }> {
  const rss = () => Number(readFileSync(`/proc/${target.child.pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  await new Promise((r) => setTimeout(r, 500));
  const before = rss();
  const sockets: WebSocket[] = [];
  for (let i = 0; i < idleSockets; i += 200) {
    sockets.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(200, idleSockets - i) }, async () => {
          const ws = new WebSocket(target.wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
          await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
          return ws;
        }),
      )),
    );
  }
  await new Promise((r) => setTimeout(r, 1000));
  const after = rss();
  for (const ws of sockets) ws.terminate();
  return { sockets: sockets.length, bytesPerSocket: (after - before) / sockets.length };
}

/** `--hubs N`: the fixed rate through 1 hub, then through N hubs on one database and one nats-server. */
async function severalHubs(n: number): Promise<void> {
  const natsDir = await mkdtemp(path.join(tmpdir(), 'bench-nats-'));
  const natsPort = await freePort();
  const nats = spawn(opts['nats-server'], ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', natsDir], { stdio: 'ignore' });
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const hubs: { port: number; wsUrl: string; pid: number | undefined; stop(): Promise<void> }[] = [];
  let first: BenchHub | undefined;
  try {
    await waitPort(natsPort);
    first = await startBenchHub({ ...HUB_ENV, NATS_URL: natsUrl, HUB_JWT_SECRET: SHARED_JWT_SECRET });
    hubs.push({ port: first.port, wsUrl: first.wsUrl, pid: first.child.pid, stop: () => first!.stop() });
    for (let i = 1; i < n; i++) hubs.push(await startPeer(first.databaseUrl, natsUrl));
    db = new pg.Client({ connectionString: first.databaseUrl });
    await db.connect();
    const token = await adminToken(first);
    const setup = await connect(first, token);
    const events: string[] = [];
    for (let i = 0; i < eventCount; i++) events.push((await setup.request<{ public_id: string }>('events.create', { name: `fanout-hubs-${i}` })).public_id);
    const subscribersOf = new Map<string, number>();
    for (let i = 0; i < subscribers; i++) subscribersOf.set(events[i % events.length] as string, (subscribersOf.get(events[i % events.length] as string) ?? 0) + 1);

    const rows: Record<string, string | number>[] = [];
    const results: Record<string, unknown>[] = [];
    for (const used of [1, n]) {
      workers = await startWorkers(workerCount);
      const on = hubs.slice(0, used);
      await openSubscribers((topics, k) => ({ cmd: 'open', kind: 'hub', url: (on[k % used] as (typeof hubs)[number]).wsUrl, token, topics }), (i) => events[i % events.length] as string);
      const devices = await Promise.all(on.map((h) => connect({ ...first!, port: h.port, wsUrl: h.wsUrl, baseUrl: `http://127.0.0.1:${h.port}` }, token)));
      let tick = 0;
      const system: System = {
        pid: on[0]?.pid,
        publish: (byEvent) => {
          const points: { event: string; value: number; ts: number }[] = [];
          for (const [event, list] of byEvent) for (const [ts, value] of list) points.push({ event, value, ts });
          devices[tick++ % devices.length]?.fire('ingest', { points });
        },
        close: async () => {
          for (const d of devices) await d.close();
        },
      };
      const others = [...hubs.slice(1).map((h) => h.pid ?? 0), nats.pid ?? 0];
      const before = others.map(cpuOf);
      const step = await measure(system, rate, seconds, subscribersOf);
      const extra = others.map((pid, i) => cpuOf(pid) - (before[i] as number));
      await system.close();
      for (const w of workers) w.send({ cmd: 'close' });
      await Promise.all(workers.map((w) => w.exited));
      workers = [];
      const perM = (cpu: number) => (step.delivered > 0 ? Number(((cpu * 1e6) / step.delivered).toFixed(2)) : Number.NaN);
      const hubCpu = [step.cpu, ...extra.slice(0, -1)];
      const natsCpu = extra[extra.length - 1] as number;
      rows.push({
        hubs: used,
        'delivered/s': Math.round(step.deliveredPerS),
        lost: step.lost,
        'p99 ms': step.p99,
        'hub CPU s per M (each)': hubCpu.map(perM).join(' / '),
        'nats-server CPU s per M': perM(natsCpu),
        'PostgreSQL CPU s per M': perM(step.cpuPostgres),
      });
      results.push({
        hubs: used,
        points_per_s: Math.round(step.deliveredPerS),
        lost: step.lost,
        p50_ms: step.p50,
        p99_ms: step.p99,
        hub_cpu_s: hubCpu.map((c) => Number(c.toFixed(2))),
        hub_cpu_s_per_million: hubCpu.map(perM),
        nats_cpu_s: Number(natsCpu.toFixed(2)),
        nats_cpu_s_per_million: perM(natsCpu),
        postgres_cpu_s_per_million: perM(step.cpuPostgres),
      });
    }
    await setup.close();
    if (opts.json) console.log(JSON.stringify({ bench: 'fanout-hubs', machine: machine(), load_average_at_start: load, subscribers, events: eventCount, workers: workerCount, rate_points_per_s: rate, seconds, runs: results }));
    else {
      console.log(`bench:fanout --hubs ${n} — ${machine()}; load average at start ${load.join(' ')}`);
      console.log(
        `${subscribers} subscribers over ${eventCount} events in ${workerCount} worker processes (spread over the hubs); ${rate} points/s offered (${(rate * subscribers) / eventCount} deliveries/s) by one device per hub, ${seconds} s; ${n} hubs on one PostgreSQL and a private nats-server`,
      );
      console.log(table(rows));
      console.log('hub CPU: the first hub, then the others; in the 1-hub run the others hold no socket (their idle CPU is listed too). The machine may be shared: see the load average.');
    }
  } finally {
    for (const w of workers) w.child.kill();
    await db?.end().catch(() => undefined);
    for (const h of hubs.slice(1).reverse()) await h.stop();
    await first?.stop();
    nats.kill('SIGKILL');
    await rm(natsDir, { recursive: true, force: true });
  }
}

/** Another hub process on `databaseUrl` and `natsUrl`, as startBenchHub starts the first. */
async function startPeer(databaseUrl: string, natsUrl: string): Promise<{ port: number; wsUrl: string; pid: number | undefined; stop(): Promise<void> }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'hub-bench-peer-'));
  const entry = process.env.BENCH_ENTRY === 'src' ? ['--import', 'tsx', path.join(ROOT, 'src/main.ts')] : [path.join(ROOT, 'dist/main.js')];
  const child = spawn(process.execPath, entry, {
    cwd: ROOT,
    env: {
      ...process.env,
      ...HUB_ENV,
      DATABASE_URL: databaseUrl,
      NATS_URL: natsUrl,
      HUB_JWT_SECRET: SHARED_JWT_SECRET,
      HUB_PORT: '0',
      HUB_DATA_DIR: dataDir,
      HUB_ADMIN_PASSWORD: BENCH_ADMIN_PASSWORD,
      HUB_LOG_LEVEL: 'info',
      HUB_DEMO: '0',
      HUB_MAX_SOCKETS_PER_USER: '1000000',
      HUB_MAX_SOCKETS_PER_ADDRESS: '1000000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (out.length > 100_000) return;
      out += chunk.toString();
      const match = out.match(/"port":(\d+),"msg":"listening"/);
      if (match !== null) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`peer hub exited with ${code}:\n${out}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    pid: child.pid,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitPort(port: number, what = 'nats-server'): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on ${port}`);
}
