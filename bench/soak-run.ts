/**
 * The soak: a hub under ingest + fan-out + CRUD + reconnecting clients at a moderate rate for a
 * while, its memory sampled (heap after a forced full GC, see soak-gc.mjs; RSS from /metrics),
 * and the slopes fitted over the samples after a warm-up. `npm run soak` (bench/soak.ts) and the
 * CI's one-minute form (test/integration/soak.test.ts) both run this.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HubRequestError, type HubClient } from '../src/client/hub-client.js';
import { adminToken, connect, Latencies, startBenchHub, type BenchHub } from './lib.js';

export interface SoakOptions {
  readonly seconds: number;
  /** Samples before this are the warm-up (caches, JIT, pools filling): not fitted. */
  readonly warmupSeconds: number;
  readonly sampleSeconds: number;
  /** Points/s offered by the devices (in messages of `pointsPerMessage`). */
  readonly ingestRate: number;
  readonly pointsPerMessage: number;
  readonly devices: number;
  /** Live subscribers (half JSON, half MessagePack), each on every event. */
  readonly subscribers: number;
  /** CRUD cycles/s (a dashboard and a widget made, read, listed, changed, deleted). */
  readonly crudRate: number;
  /** Clients that connect, subscribe with `since`, ask, and close, over and over. */
  readonly reconnectors: number;
  /** The verdict: a heap slope above this (MB/min, after warm-up) is a leak. */
  readonly maxHeapSlope: number;
  /** Extra node flags for the hub (a scratch `--import` that leaks, to prove the verdict). */
  readonly hubNodeArgs?: readonly string[];
  /** Called with each sample as it is taken. */
  readonly onSample?: ((sample: Sample) => void) | undefined;
}

export interface Sample {
  /** Seconds since the load started. */
  readonly t: number;
  readonly rssMb: number;
  /** Heap in use right after a full GC: what is still reachable. */
  readonly heapMb: number;
}

export interface SoakCounts {
  ingestAcks: number;
  pointsAcked: number;
  pushes: number;
  crudCycles: number;
  reconnects: number;
  /** `busy` and `rate_limited` answers: back-pressure, not errors. */
  busy: number;
  errors: number;
}

export interface SoakResult {
  readonly seconds: number;
  readonly samples: readonly Sample[];
  readonly start: Sample;
  readonly end: Sample;
  /** Least-squares slopes (MB/min) over the samples after warm-up. */
  readonly heapSlope: number;
  readonly rssSlope: number;
  readonly fittedSamples: number;
  readonly counts: Readonly<SoakCounts>;
  readonly ackMs: { p50: number; p99: number; max: number; count: number };
  readonly firstErrors: readonly string[];
  readonly leak: boolean;
}

/** Preload for a hub whose heap the bench reads after a full GC (SIGUSR2). */
export const GC_PRELOAD = path.join(import.meta.dirname, 'soak-gc.mjs');

/** Runs the soak against a hub of its own (DATABASE_URL or embedded PostgreSQL), then stops it. */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const hub = await startBenchHub({}, ['--expose-gc', '--import', GC_PRELOAD, ...(o.hubNodeArgs ?? [])]);
  try {
    return await soak(hub, o);
  } finally {
    await hub.stop();
  }
}

async function soak(hub: BenchHub, o: SoakOptions): Promise<SoakResult> {
  const heapAfterGc = heapReader(hub);
  const token = await adminToken(hub);
  const admin = await connect(hub, token);
  const events: string[] = [];
  for (let i = 0; i < 4; i++) events.push((await admin.request<{ public_id: string }>('events.create', { name: `soak-${i}`, unit: 'u' })).public_id);
  // Devices ingest with their own tokens, by channel, as plugin instances do.
  const deviceTokens: string[] = [];
  for (let d = 0; d < o.devices; d++) {
    const instance = await admin.request<{ public_id: string }>('plugin_instances.create', { plugin_id: 'soak', instance_name: `soak-device-${d}` });
    for (const [i, event] of events.entries()) {
      await admin.request('channel_mappings.create', { plugin_instance_public_id: instance.public_id, channel_id: `ch${i}`, event_public_id: event });
    }
    deviceTokens.push((await admin.request<{ token: string }>('api_tokens.create', { name: `soak-${d}`, plugin_instance_public_id: instance.public_id })).token);
  }

  const counts: SoakCounts = { ingestAcks: 0, pointsAcked: 0, pushes: 0, crudCycles: 0, reconnects: 0, busy: 0, errors: 0 };
  const firstErrors: string[] = [];
  const fail = (where: string, err: unknown): void => {
    if (err instanceof HubRequestError && (err.code === 'busy' || err.code === 'rate_limited')) {
      counts.busy++;
      return;
    }
    counts.errors++;
    if (firstErrors.length < 10) firstErrors.push(`${where}: ${(err as Error).message}`);
  };
  const ack = new Latencies();
  const started = performance.now();
  const deadline = started + o.seconds * 1000;
  const running = (): boolean => performance.now() < deadline;

  const subscribers = await Promise.all(
    Array.from({ length: o.subscribers }, async (_, i) => {
      const client = await connect(hub, token, i % 2 === 0 ? 'json' : 'msgpack');
      client.onPush(() => counts.pushes++);
      await client.request('subscribe', { events });
      return client;
    }),
  );

  const loops: Promise<void>[] = [];
  // Devices: each sends its share of the rate, one message at a time, awaiting the ack.
  const messagesPerSecond = o.ingestRate / o.pointsPerMessage / Math.max(1, o.devices);
  for (const [d, deviceToken] of deviceTokens.entries()) {
    loops.push(
      (async () => {
        const device = await connect(hub, deviceToken, d % 2 === 0 ? 'json' : 'msgpack');
        let seq = 0;
        await paced(messagesPerSecond, running, async () => {
          const now = Date.now();
          const points = Array.from({ length: o.pointsPerMessage }, (_, k) => ({ channel: `ch${k % events.length}`, value: Math.sin(seq + k), ts: now }));
          const t0 = performance.now();
          try {
            const reply = await device.request<{ accepted: number }>('ingest', { seq: ++seq, points });
            ack.add(performance.now() - t0);
            counts.ingestAcks++;
            counts.pointsAcked += reply.accepted;
          } catch (err) {
            fail('ingest', err);
          }
        });
        await device.close();
      })(),
    );
  }

  // CRUD: a dashboard and a widget made, read, listed, changed and deleted (the tables stay small).
  loops.push(
    (async () => {
      const crud = await connect(hub, token, 'msgpack');
      let n = 0;
      await paced(o.crudRate, running, async () => {
        try {
          const dashboard = await crud.request<{ public_id: string }>('dashboards.create', { name: `soak-${n++}` });
          const widget = await crud.request<{ public_id: string }>('dashboard_widgets.create', {
            dashboard_public_id: dashboard.public_id,
            widget_type: 'line_chart',
            title: 'soak',
            event_public_id: events[n % events.length],
            config: { color: 'teal', window_s: n % 600, series: [1, 2, 3] },
          });
          await crud.request('dashboard_widgets.get', { public_id: widget.public_id });
          await crud.request('dashboards.list', { page_size: 10 });
          await crud.request('dashboard_widgets.update', { public_id: widget.public_id, title: `soak ${n}` });
          await crud.request('datapoints.query', { event_public_id: events[0], from: Date.now() - 2_000, limit: 100 });
          await crud.request('dashboard_widgets.delete', { public_id: widget.public_id });
          await crud.request('dashboards.delete', { public_id: dashboard.public_id });
          counts.crudCycles++;
        } catch (err) {
          fail('crud', err);
        }
      });
      await crud.close();
    })(),
  );

  // Reconnecting clients: open, replay the last seconds, ask, close; again.
  for (let r = 0; r < o.reconnectors; r++) {
    loops.push(
      (async () => {
        while (running()) {
          let client: HubClient | undefined;
          try {
            client = await connect(hub, token, r % 2 === 0 ? 'json' : 'msgpack');
            client.onPush(() => counts.pushes++);
            await client.request('subscribe', { events, since: Date.now() - 3_000 });
            await client.request('auth.me');
            await client.request('datapoints.latest', { events });
            await sleep(200 + Math.random() * 300);
            counts.reconnects++;
          } catch (err) {
            fail('reconnect', err);
            await sleep(200);
          } finally {
            await client?.close();
          }
        }
      })(),
    );
  }

  // Memory: every sampleSeconds until the end, and once more after it.
  const samples: Sample[] = [];
  const sample = async (): Promise<void> => {
    try {
      const s = await sampleMemory(hub, heapAfterGc, (performance.now() - started) / 1000);
      samples.push(s);
      o.onSample?.(s);
    } catch (err) {
      fail('memory sample', err);
    }
  };
  const sampler = (async () => {
    while (running()) {
      await sample();
      await sleep(Math.min(o.sampleSeconds * 1000, Math.max(0, deadline - performance.now())));
    }
    await sample();
  })();

  await Promise.all([...loops, sampler]);
  await Promise.all(subscribers.map((s) => s.close()));
  await admin.close();
  if (samples.length === 0) throw new Error(`no memory samples: ${firstErrors.join('; ')}`);

  const fitted = samples.filter((s) => s.t >= o.warmupSeconds);
  const heapSlope = slopePerMinute(fitted.map((s) => [s.t, s.heapMb]));
  const rssSlope = slopePerMinute(fitted.map((s) => [s.t, s.rssMb]));
  return {
    seconds: (performance.now() - started) / 1000,
    samples,
    start: samples[0] as Sample,
    end: samples[samples.length - 1] as Sample,
    heapSlope,
    rssSlope,
    fittedSamples: fitted.length,
    counts,
    ackMs: ack.summary(),
    firstErrors,
    leak: heapSlope > o.maxHeapSlope,
  };
}

/** Calls `fn` `perSecond` times a second (each call awaited) while `running()`. */
async function paced(perSecond: number, running: () => boolean, fn: () => Promise<void>): Promise<void> {
  const interval = 1000 / perSecond;
  let next = performance.now();
  while (running()) {
    await fn();
    next += interval;
    const wait = next - performance.now();
    if (wait > 0) await sleep(Math.min(wait, 1_000));
    else if (wait < -5_000) next = performance.now(); // far behind: do not burst to catch up
  }
}

/**
 * A full GC in the hub (SIGUSR2, see soak-gc.mjs) and the heap it leaves, then RSS from
 * /metrics. `heapAfterGc` resolves with the next figure the hub writes.
 */
async function sampleMemory(hub: BenchHub, heapAfterGc: () => Promise<number>, t: number): Promise<Sample> {
  const heap = heapAfterGc();
  hub.child.kill('SIGUSR2');
  const heapBytes = await Promise.race([heap, sleep(10_000).then(() => Number.NaN)]);
  const text = await (await fetch(`${hub.baseUrl}/metrics`)).text();
  const rss = text.match(/^hub_process_resident_memory_bytes (\S+)/m);
  if (rss === null || Number.isNaN(heapBytes)) throw new Error('no memory figures from the hub (is soak-gc.mjs preloaded?)');
  return { t, rssMb: Number(rss[1]) / 2 ** 20, heapMb: heapBytes / 2 ** 20 };
}

/** Reads the hub's stdout for soak-gc.mjs's lines; each call waits for the next one. */
function heapReader(hub: BenchHub): () => Promise<number> {
  let waiting: ((bytes: number) => void)[] = [];
  let partial = '';
  hub.child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{"soak_heap_after_gc"')) continue;
      const bytes = (JSON.parse(line) as { soak_heap_after_gc: number }).soak_heap_after_gc;
      for (const resolve of waiting) resolve(bytes);
      waiting = [];
    }
  });
  return () => new Promise((resolve) => waiting.push(resolve));
}

/** Least-squares slope of `[seconds, MB]` points, in MB per minute (0 with fewer than two). */
export function slopePerMinute(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx === 0 ? 0 : (sxy / sxx) * 60;
}
