/**
 * `npm run bench:ingest -- --producer`: the SDK's Producer against raw frames, on one hub in one
 * run. Raw: D device sockets sending pre-encoded `ingest` frames of B points, W unacknowledged
 * each (what bench:ingest measures). Producer: the same D devices through
 * `@telemetry-hub/client`'s Producer (maxPoints B, window W), each calling `send` with B points
 * as fast as it accepts them. Runs alternate raw, producer, producer, raw (drift cancels) and
 * `ratio` = producer rows/s ÷ raw rows/s (aim ≥ 0.9). Acked rows must equal stored rows.
 *
 * Flags (or BENCH_<NAME>): --devices 8 --points 1000 --window 4 --seconds 10 --events 100 --json.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import WebSocket from 'ws';
import { Connection, MemorySeqStore, Producer } from '../packages/client/src/index.js';
import { adminToken, connect, machine, startBenchHub, table, type BenchHub } from './lib.js';

const { values } = parseArgs({
  options: {
    producer: { type: 'boolean' },
    json: { type: 'boolean' },
    devices: { type: 'string' },
    points: { type: 'string' },
    window: { type: 'string' },
    seconds: { type: 'string' },
    events: { type: 'string' },
  },
});
const opt = (name: keyof typeof values, fallback: number): number =>
  Number((values[name] as string | undefined) ?? process.env[`BENCH_${String(name).toUpperCase()}`] ?? fallback);
const devices = opt('devices', 8);
const pointsPerMessage = opt('points', 1000);
const window = opt('window', 4);
const seconds = opt('seconds', 10);
const eventCount = opt('events', 100);

interface Run {
  rowsPerS: number;
  acked: number;
  stored: number;
}

/** Seqs per token only grow: each run starts far above the last. */
let seqCursor = Date.now() * 1000;
const nextSeqBase = (): number => (seqCursor += 10_000_000);

const hub = await startBenchHub({
  HUB_QUEUE_CAPACITY: String(Math.max(200_000, devices * window * pointsPerMessage * 2)),
  HUB_MAX_BATCH_POINTS: String(Math.max(10_000, pointsPerMessage)),
});
const db = new pg.Client({ connectionString: hub.databaseUrl });
try {
  await db.connect();
  const setup = await connect(hub, await adminToken(hub));
  const events: string[] = [];
  for (let i = 0; i < eventCount; i++) events.push((await setup.request<{ public_id: string }>('events.create', { name: `bench-producer-${i}` })).public_id);
  const tokens: string[] = [];
  for (let d = 0; d < devices; d++) {
    const instance = await setup.request<{ public_id: string }>('plugin_instances.create', { plugin_id: 'bench', instance_name: `bench-producer-device-${d}` });
    for (const [i, event] of events.entries()) {
      await setup.request('channel_mappings.create', { plugin_instance_public_id: instance.public_id, channel_id: `ch${i}`, event_public_id: event });
    }
    tokens.push((await setup.request<{ token: string }>('api_tokens.create', { name: `bench-producer-${d}`, plugin_instance_public_id: instance.public_id })).token);
  }
  await setup.close();
  const t0 = Date.now() - 3_600_000;
  const messagePoints = Array.from({ length: pointsPerMessage }, (_, i) => ({
    event: events[i % events.length] as string,
    value: Math.round(Math.random() * 100_000) / 100,
    ts: t0 + i,
  }));

  const stored = async (): Promise<number> => {
    const count = Number((await db.query('SELECT count(*) FROM datapoints')).rows[0].count);
    await db.query('TRUNCATE datapoints');
    return count;
  };
  const raw: Run[] = [];
  const viaProducer: Run[] = [];
  const ordered: (Run & { kind: string })[] = [];
  for (const kind of ['raw', 'producer', 'producer', 'raw'] as const) {
    const run = kind === 'raw' ? await runRaw(hub, tokens, messagePoints) : await runProducer(hub, tokens, messagePoints);
    const result = { ...run, stored: await stored() };
    (kind === 'raw' ? raw : viaProducer).push(result);
    ordered.push({ kind, ...result });
    if (result.acked !== result.stored) process.exitCode = 1;
  }
  const mean = (runs: Run[]): number => runs.reduce((s, r) => s + r.rowsPerS, 0) / runs.length;
  const result = {
    bench: 'ingest-producer',
    machine: machine(),
    database: process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL 17',
    devices,
    points_per_message: pointsPerMessage,
    window,
    seconds,
    raw_rows_per_s: Math.round(mean(raw)),
    producer_rows_per_s: Math.round(mean(viaProducer)),
    ratio: Number((mean(viaProducer) / mean(raw)).toFixed(3)),
    runs: ordered.map((r) => ({ ...r, rowsPerS: Math.round(r.rowsPerS) })),
    acked_equals_stored: [...raw, ...viaProducer].every((r) => r.acked === r.stored),
  };
  if (values.json === true) console.log(JSON.stringify(result));
  else {
    console.log(`bench:ingest --producer — ${result.machine}; ${result.database}; ${devices} devices × ${pointsPerMessage} points, window ${window}, ${seconds} s per run`);
    console.log(table(result.runs.map((r) => ({ run: r.kind, 'rows/s': r.rowsPerS, acked: r.acked, stored: r.stored }))));
    console.log(`producer ${result.producer_rows_per_s} rows/s ÷ raw frames ${result.raw_rows_per_s} rows/s = ratio ${result.ratio} (aim ≥ 0.9); acked = stored: ${result.acked_equals_stored}`);
  }
} finally {
  await db.end().catch(() => undefined);
  await hub.stop();
}

/** Raw frames, pre-encoded, W in flight per device (as bench:ingest's hub run). */
async function runRaw(target: BenchHub, deviceTokens: string[], points: unknown[]): Promise<Omit<Run, 'stored'>> {
  const seqBase = nextSeqBase();
  const pointsJson = JSON.stringify(points);
  let acked = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    deviceTokens.map(async (token) => {
      const ws = new WebSocket(target.wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      let nextId = 1;
      let inFlight = 0;
      await new Promise<void>((resolve, reject) => {
        const send = (): void => {
          while (inFlight < window && performance.now() < deadline) {
            const id = nextId++;
            inFlight++;
            ws.send(`{"id":${id},"op":"ingest","data":{"seq":${seqBase + id},"points":${pointsJson}}}`);
          }
          if (inFlight === 0) resolve();
        };
        ws.on('message', (data: Buffer) => {
          const reply = JSON.parse(data.toString()) as { ok: boolean; data?: { accepted: number }; error?: unknown };
          inFlight--;
          if (!reply.ok) return reject(new Error(`raw ingest refused: ${JSON.stringify(reply.error)}`));
          acked += reply.data?.accepted ?? 0;
          send();
        });
        send();
      });
      ws.close();
    }),
  );
  return { rowsPerS: acked / ((performance.now() - started) / 1000), acked };
}

/** The SDK's Producer per device: `send` B points as fast as it takes them, then `flush`. */
async function runProducer(target: BenchHub, deviceTokens: string[], points: { event: string; value: number; ts: number }[]): Promise<Omit<Run, 'stored'>> {
  const connections = await Promise.all(deviceTokens.map((token) => Connection.open({ url: target.wsUrl, token })));
  let acked = 0;
  let failed = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    connections.map(async (connection) => {
      const producer = new Producer(connection, {
        maxPoints: pointsPerMessage,
        window,
        maxBufferedPoints: window * pointsPerMessage * 2,
        seqStore: new MemorySeqStore(nextSeqBase()),
      });
      producer.onError(() => failed++);
      while (performance.now() < deadline) await producer.send(points);
      await producer.flush();
      acked += producer.stats.acked;
    }),
  );
  const rowsPerS = acked / ((performance.now() - started) / 1000);
  await Promise.all(connections.map((c) => c.close()));
  if (failed > 0) throw new Error(`the producer had ${failed} messages refused`);
  return { rowsPerS, acked };
}
