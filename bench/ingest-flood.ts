/**
 * `npm run bench:ingest -- --flood`: fair ingest under a flood. N well-behaved devices send small
 * messages at a fixed rate while one device floods (big messages, a large window); the same run
 * measures the well-behaved devices' ack latency without the flood first, then with it, and
 * prints the ratio of their p99 (aim: below 2).
 *
 * Flags (or BENCH_<NAME>): --devices 20 --calm-points 10 --rate 20 (messages/s per device)
 * --flood-points 1000 --flood-window 64 --seconds 10 --json. DATABASE_URL as for bench:ingest.
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { adminToken, connect, Latencies, machine, stageSummary, startBenchHub, table, type BenchHub } from './lib.js';

const { values } = parseArgs({
  options: {
    flood: { type: 'boolean' },
    json: { type: 'boolean' },
    devices: { type: 'string' },
    'calm-points': { type: 'string' },
    rate: { type: 'string' },
    'flood-points': { type: 'string' },
    'flood-window': { type: 'string' },
    seconds: { type: 'string' },
  },
});
const opt = (name: keyof typeof values, fallback: number): number =>
  Number((values[name] as string | undefined) ?? process.env[`BENCH_${String(name).toUpperCase().replaceAll('-', '_')}`] ?? fallback);
const devices = opt('devices', 20);
const calmPoints = opt('calm-points', 10);
const rate = opt('rate', 20);
const floodPoints = opt('flood-points', 1000);
const floodWindow = opt('flood-window', 64);
const seconds = opt('seconds', 10);

interface CalmRun {
  latency: { p50: number; p99: number; max: number; count: number };
  refused: number;
}

const hub = await startBenchHub({});
try {
  const setup = await connect(hub, await adminToken(hub));
  const event = (await setup.request<{ public_id: string }>('events.create', { name: 'bench-flood' })).public_id;
  const tokens: string[] = [];
  for (let d = 0; d <= devices; d++) {
    const instance = await setup.request<{ public_id: string }>('plugin_instances.create', { plugin_id: 'bench', instance_name: `flood-bench-${d}` });
    await setup.request('channel_mappings.create', { plugin_instance_public_id: instance.public_id, channel_id: 'ch', event_public_id: event });
    tokens.push((await setup.request<{ token: string }>('api_tokens.create', { name: `flood-${d}`, plugin_instance_public_id: instance.public_id })).token);
  }
  await setup.close();
  const [floodToken, ...calmTokens] = tokens as [string, ...string[]];

  // Where the time goes inside the hub in each phase (a read of /metrics starts a new window).
  const stages = async () => stageSummary(await (await fetch(`${hub.baseUrl}/metrics`)).text());
  await stages();
  const baseline = await calm(hub, calmTokens, event);
  const baselineStages = await stages();
  const flooding = flood(hub, floodToken, event);
  await new Promise((r) => setTimeout(r, 500));
  await stages();
  const during = await calm(hub, calmTokens, event);
  const duringStages = await stages();
  const floodResult = await flooding.stop();

  const ratio = during.latency.p99 / baseline.latency.p99;
  const result = {
    bench: 'ingest-flood',
    machine: machine(),
    database: process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL 17',
    devices,
    calm_points: calmPoints,
    rate_per_device: rate,
    flood_points: floodPoints,
    flood_window: floodWindow,
    seconds,
    baseline_p50_ms: round(baseline.latency.p50),
    baseline_p99_ms: round(baseline.latency.p99),
    flood_p50_ms: round(during.latency.p50),
    flood_p99_ms: round(during.latency.p99),
    p99_ratio: round(ratio),
    calm_refused: baseline.refused + during.refused,
    flood_rows_per_s: Math.round(floodResult.rows / floodResult.seconds),
    flood_busy: floodResult.busy,
    flood_rate_limited: floodResult.limited,
    hub_stages_alone_ms: baselineStages,
    hub_stages_with_flood_ms: duringStages,
  };
  if (values.json === true) console.log(JSON.stringify(result));
  else {
    console.log(`bench:ingest --flood — ${result.machine}; ${result.database}; ${devices} devices × ${calmPoints} points at ${rate}/s; flood ${floodPoints} points × window ${floodWindow}; ${seconds} s each`);
    console.log(
      table([
        { phase: 'well-behaved alone', acks: baseline.latency.count, 'p50 ms': result.baseline_p50_ms, 'p99 ms': result.baseline_p99_ms, 'max ms': round(baseline.latency.max), refused: baseline.refused },
        { phase: 'with the flood', acks: during.latency.count, 'p50 ms': result.flood_p50_ms, 'p99 ms': result.flood_p99_ms, 'max ms': round(during.latency.max), refused: during.refused },
      ]),
    );
    console.log(
      `p99 with / without the flood: ${result.p99_ratio} (aim < 2); the flood: ${result.flood_rows_per_s} rows/s acked, ${result.flood_busy} busy, ${result.flood_rate_limited} rate-limited`,
    );
    console.log('inside the hub (hub_ingest_stage_ms, all messages of the phase), p50 / p99 ms:');
    console.log(
      table(
        Object.keys(duringStages).map((stage) => ({
          stage,
          alone: `${baselineStages[stage]?.p50 ?? ''} / ${baselineStages[stage]?.p99 ?? ''}`,
          'with the flood': `${duringStages[stage]?.p50 ?? ''} / ${duringStages[stage]?.p99 ?? ''}`,
        })),
      ),
    );
  }
  if (result.calm_refused > 0) process.exitCode = 1;
} finally {
  await hub.stop();
}

function round(n: number): number {
  return Number(n.toFixed(2));
}

/** Each well-behaved device sends `rate` messages a second for `seconds`; acks timed. */
async function calm(target: BenchHub, calmTokens: string[], event: string): Promise<CalmRun> {
  const latency = new Latencies();
  let refused = 0;
  await Promise.all(
    calmTokens.map(async (token, d) => {
      const ws = await open(target, token);
      const sentAt = new Map<number, number>();
      ws.on('message', (data: Buffer) => {
        const reply = JSON.parse(data.toString()) as { id: number; ok: boolean };
        if (reply.ok) latency.add(performance.now() - (sentAt.get(reply.id) as number));
        else refused++;
        sentAt.delete(reply.id);
      });
      const points = JSON.stringify(Array.from({ length: calmPoints }, (_, i) => ({ event, value: d * 1000 + i })));
      const period = 1000 / rate;
      // Spread the devices over the period, then a fixed schedule (no catch-up bursts).
      await new Promise((r) => setTimeout(r, (period * d) / calmTokens.length));
      const started = performance.now();
      for (let id = 1; performance.now() - started < seconds * 1000; id++) {
        sentAt.set(id, performance.now());
        ws.send(`{"id":${id},"op":"ingest","data":{"points":${points}}}`);
        const wait = started + id * period - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const deadline = Date.now() + 30_000;
      while (sentAt.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      ws.close();
    }),
  );
  return { latency: latency.summary(), refused };
}

/** One device keeping `floodWindow` big messages in flight until stopped. */
function flood(target: BenchHub, token: string, event: string) {
  let running = true;
  let rows = 0;
  let busy = 0;
  let limited = 0;
  const started = performance.now();
  const done = (async () => {
    const ws = await open(target, token);
    const frame = (id: number) =>
      `{"id":${id},"op":"ingest","data":{"points":${JSON.stringify(Array.from({ length: floodPoints }, (_, i) => ({ event, value: id + i })))}}}`;
    const payload = frame(0).replace('"id":0', '"id":ID');
    let inFlight = 0;
    let nextId = 1;
    await new Promise<void>((resolve) => {
      const send = (): void => {
        while (running && inFlight < floodWindow) {
          inFlight++;
          ws.send(payload.replace('ID', String(nextId++)));
        }
        if (!running && inFlight === 0) resolve();
      };
      ws.on('message', (data: Buffer) => {
        const reply = JSON.parse(data.toString()) as { ok: boolean; data?: { accepted: number }; error?: { code: string; retry_after_ms?: number } };
        inFlight--;
        if (reply.ok) rows += reply.data?.accepted ?? 0;
        else if (reply.error?.code === 'busy') busy++;
        else if (reply.error?.code === 'rate_limited') limited++;
        else throw new Error(`flood ingest failed: ${JSON.stringify(reply.error)}`);
        // A flood: it retries at once, ignoring retry_after_ms.
        send();
      });
      send();
    });
    ws.close();
  })();
  return {
    stop: async () => {
      const elapsed = (performance.now() - started) / 1000;
      running = false;
      await done;
      return { rows, busy, limited, seconds: elapsed };
    },
  };
}

function open(target: BenchHub, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target.wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.once('open', () => resolve(ws)).once('error', reject);
  });
}
