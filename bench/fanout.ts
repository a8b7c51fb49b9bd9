/**
 * `npm run bench:fanout`: live fan-out through the hub against the same topology through
 * Mosquitto (MQTT QoS 0) on 127.0.0.1:1883, in one run:
 * S subscriber sockets over E events (each subscribes to one event), one stream of R points/s.
 * Measures delivered points/s and end-to-end latency (device send → subscriber receive; through
 * the hub this includes the COPY and its commit), then the hub's memory per idle socket.
 *
 * Flags (or BENCH_<NAME>): --subscribers 1000 --events 100 --rate 20000 --seconds 10
 * --idle 10000 --json. No broker on 1883: the Mosquitto column is skipped with a note.
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { adminToken, connect, flags, Latencies, machine, startBenchHub, table, type BenchHub } from './lib.js';

const opts = flags({ subscribers: '1000', events: '100', rate: '20000', seconds: '10', idle: '10000', broker: 'mqtt://127.0.0.1:1883' });
const subscribers = Number(opts.subscribers);
const eventCount = Number(opts.events);
const rate = Number(opts.rate);
const seconds = Number(opts.seconds);
const idleSockets = Number(opts.idle);
const TICK_MS = 10;

interface Run {
  pointsPerS: number;
  latency: { p50: number; p99: number; max: number; count: number };
}

const hub = await startBenchHub({ HUB_QUEUE_CAPACITY: '1000000' });
try {
  const token = await adminToken(hub);
  const setup = await connect(hub, token);
  const events: string[] = [];
  for (let i = 0; i < eventCount; i++) events.push((await setup.request<{ public_id: string }>('events.create', { name: `fanout-${i}` })).public_id);

  // Memory first, on a fresh heap: after the load runs, garbage collection would blur it.
  const idle = await idleMemory(hub, token);
  const viaHub = await runHub(hub, token, events);
  let viaMqtt: Run | undefined;
  let mqttNote = '';
  try {
    viaMqtt = await runMosquitto(events);
  } catch (err) {
    mqttNote = `Mosquitto skipped: ${(err as Error).message}`;
  }
  await setup.close();

  const result = {
    bench: 'fanout',
    machine: machine(),
    subscribers,
    events: eventCount,
    rate_points_per_s: rate,
    seconds,
    hub_points_per_s: Math.round(viaHub.pointsPerS),
    mosquitto_points_per_s: viaMqtt === undefined ? null : Math.round(viaMqtt.pointsPerS),
    ratio: viaMqtt === undefined ? null : Number((viaHub.pointsPerS / viaMqtt.pointsPerS).toFixed(3)),
    p50_ms: Number(viaHub.latency.p50.toFixed(2)),
    p99_ms: Number(viaHub.latency.p99.toFixed(2)),
    max_ms: Number(viaHub.latency.max.toFixed(2)),
    mosquitto_p50_ms: viaMqtt === undefined ? null : Number(viaMqtt.latency.p50.toFixed(2)),
    mosquitto_p99_ms: viaMqtt === undefined ? null : Number(viaMqtt.latency.p99.toFixed(2)),
    mosquitto_max_ms: viaMqtt === undefined ? null : Number(viaMqtt.latency.max.toFixed(2)),
    idle_sockets: idle.sockets,
    bytes_per_idle_socket: Math.round(idle.bytesPerSocket),
  };
  if (opts.json) console.log(JSON.stringify(result));
  else {
    console.log(`bench:fanout — ${result.machine}; ${subscribers} subscribers over ${eventCount} events, ${rate} points/s offered (${(rate * subscribers) / eventCount} deliveries/s), ${seconds} s`);
    const row = (path: string, r: Run | undefined) =>
      r === undefined
        ? { path, 'delivered points/s': 'skipped', 'p50 ms': '', 'p99 ms': '', 'max ms': '' }
        : { path, 'delivered points/s': Math.round(r.pointsPerS), 'p50 ms': r.latency.p50, 'p99 ms': r.latency.p99, 'max ms': r.latency.max };
    console.log(table([row('hub (ingest → COPY → commit → push)', viaHub), row('Mosquitto, MQTT QoS 0', viaMqtt)]));
    if (result.ratio !== null) console.log(`ratio hub / Mosquitto: ${result.ratio}`);
    if (mqttNote !== '') console.log(mqttNote);
    console.log(`memory: ${result.bytes_per_idle_socket} bytes per idle socket (RSS delta over ${result.idle_sockets} idle sockets)`);
  }
} finally {
  await hub.stop();
}

/** Offers `rate` points/s spread over the events, in a message every TICK_MS, each point stamped with its send time. */
async function drive(send: (byEvent: Map<string, [number, number][]>) => Promise<void> | void, events: string[]): Promise<void> {
  const perTick = Math.max(1, Math.round((rate * TICK_MS) / 1000));
  const deadline = performance.now() + seconds * 1000;
  let next = performance.now();
  let k = 0;
  while (performance.now() < deadline) {
    const byEvent = new Map<string, [number, number][]>();
    const now = Date.now();
    for (let i = 0; i < perTick; i++) {
      const event = events[k++ % events.length] as string;
      const list = byEvent.get(event) ?? [];
      list.push([now, k]);
      byEvent.set(event, list);
    }
    void send(byEvent);
    next += TICK_MS;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

async function runHub(target: BenchHub, token: string, events: string[]): Promise<Run> {
  const latency = new Latencies();
  let delivered = 0;
  let measuring = false;
  const sockets = await Promise.all(
    Array.from({ length: subscribers }, async (_, i) => {
      const ws = new WebSocket(target.wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const subscribed = new Promise((resolve) => ws.once('message', resolve));
      ws.send(JSON.stringify({ id: 1, op: 'subscribe', data: { events: [events[i % events.length]] } }));
      await subscribed;
      ws.on('message', (data: Buffer) => {
        if (!measuring) return;
        const now = Date.now();
        const push = JSON.parse(data.toString()) as { data: { points: [number, number][] } };
        for (const [ts] of push.data.points) latency.add(now - ts);
        delivered += push.data.points.length;
      });
      return ws;
    }),
  );
  const device = await connect(target, token);
  measuring = true;
  const started = performance.now();
  await drive((byEvent) => {
    const points: { event: string; value: number; ts: number }[] = [];
    for (const [event, list] of byEvent) for (const [ts, value] of list) points.push({ event, value, ts });
    device.fire('ingest', { points });
  }, events);
  await new Promise((r) => setTimeout(r, 500));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000 - 0.5;
  await device.close();
  for (const ws of sockets) ws.close();
  return { pointsPerS: delivered / elapsed, latency: latency.summary() };
}

async function runMosquitto(events: string[]): Promise<Run> {
  const latency = new Latencies();
  let delivered = 0;
  let measuring = false;
  const connectClient = () =>
    new Promise<mqtt.MqttClient>((resolve, reject) => {
      const c = mqtt.connect(opts.broker, { reconnectPeriod: 0, connectTimeout: 3000 });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
  const clients: mqtt.MqttClient[] = [];
  for (let i = 0; i < subscribers; i += 50) {
    clients.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(50, subscribers - i) }, async (_, j) => {
          const c = await connectClient();
          await c.subscribeAsync(`bench/${events[(i + j) % events.length]}`, { qos: 0 });
          c.on('message', (_topic, payload) => {
            if (!measuring) return;
            const now = Date.now();
            const points = JSON.parse(payload.toString()) as [number, number][];
            for (const [ts] of points) latency.add(now - ts);
            delivered += points.length;
          });
          return c;
        }),
      )),
    );
  }
  const publisher = await connectClient();
  measuring = true;
  const started = performance.now();
  await drive((byEvent) => {
    for (const [event, points] of byEvent) publisher.publish(`bench/${event}`, JSON.stringify(points), { qos: 0 });
  }, events);
  await new Promise((r) => setTimeout(r, 500));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000 - 0.5;
  await Promise.all([publisher, ...clients].map((c) => c.endAsync()));
  return { pointsPerS: delivered / elapsed, latency: latency.summary() };
}

/** RSS of the hub process before and after opening `idleSockets` sockets that do nothing. */
async function idleMemory(target: BenchHub, token: string): Promise<{ sockets: number; bytesPerSocket: number }> {
  const rss = () => Number(readFileSync(`/proc/${target.child.pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  global.gc?.();
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
