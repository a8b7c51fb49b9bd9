/**
 * A fan-out bench worker (a child process of bench/fanout.ts): holds a share of the subscribers,
 * through the hub (WebSocket) or through Mosquitto (MQTT QoS 0), and counts what they receive and
 * how late (send time, stamped by the publisher on the shared high-resolution clock, to receive).
 * Spreading subscribers over processes keeps the load generator from being the bottleneck.
 *
 * Commands by IPC: `open` → `opened`; `start`; `stop` → `stats` (delivered points and a latency
 * histogram, merged by the parent); `close` → exits.
 */
import mqtt from 'mqtt';
import WebSocket from 'ws';

export type WorkerCommand =
  | { cmd: 'open'; kind: 'hub'; url: string; token: string; topics: string[] }
  | { cmd: 'open'; kind: 'mqtt'; url: string; topics: string[] }
  | { cmd: 'start' }
  | { cmd: 'stop' }
  | { cmd: 'close' };

/** `histogram`: the non-empty buckets, as [bucket, count]. */
export type WorkerReply =
  | { kind: 'opened'; count: number }
  | { kind: 'stats'; delivered: number; histogram: [number, number][] }
  | { kind: 'error'; message: string };

/** Latency histogram: 0.1 ms buckets to 100 ms, then 1 ms buckets to 60 s. */
export const HISTOGRAM_BUCKETS = 1000 + 59_900 + 1;

export function bucketOf(ms: number): number {
  if (ms < 0) return 0;
  if (ms < 100) return Math.floor(ms * 10);
  return Math.min(HISTOGRAM_BUCKETS - 1, 1000 + Math.floor(ms - 100));
}

/** The upper bound (ms) of bucket `i`. */
export function bucketMs(i: number): number {
  return i < 1000 ? (i + 1) / 10 : i - 1000 + 101;
}

/** The wall clock in ms with sub-millisecond resolution, comparable between processes. */
export function clockMs(): number {
  return performance.timeOrigin + performance.now();
}

if (process.send !== undefined) {
  const send = (reply: WorkerReply): void => void process.send?.(reply);
  let histogram = new Uint32Array(HISTOGRAM_BUCKETS);
  let delivered = 0;
  let measuring = false;
  const closers: (() => void)[] = [];
  const received = (points: [number, number][]): void => {
    if (!measuring) return;
    const now = clockMs();
    for (const [ts] of points) {
      const b = bucketOf(now - ts);
      histogram[b] = (histogram[b] as number) + 1;
    }
    delivered += points.length;
  };

  const openHub = async (url: string, token: string, topics: string[]): Promise<void> => {
    for (let i = 0; i < topics.length; i += 100) {
      await Promise.all(
        topics.slice(i, i + 100).map(async (event) => {
          const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
          await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
          const subscribed = new Promise((resolve) => ws.once('message', resolve));
          ws.send(JSON.stringify({ id: 1, op: 'subscribe', data: { events: [event] } }));
          await subscribed;
          ws.on('message', (data: Buffer) => {
            const push = JSON.parse(data.toString()) as { op?: string; data?: { points?: [number, number][] } };
            if (push.op === 'readings' && push.data?.points !== undefined) received(push.data.points);
          });
          closers.push(() => ws.terminate());
        }),
      );
    }
  };

  const openMqtt = async (url: string, topics: string[]): Promise<void> => {
    for (let i = 0; i < topics.length; i += 50) {
      await Promise.all(
        topics.slice(i, i + 50).map(async (topic) => {
          const c = await new Promise<mqtt.MqttClient>((resolve, reject) => {
            const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000 });
            client.once('connect', () => resolve(client));
            client.once('error', reject);
          });
          // Nagle off, as ws has it on the hub's side.
          (c.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
          await c.subscribeAsync(topic, { qos: 0 });
          c.on('message', (_topic, payload) => received(JSON.parse(payload.toString()) as [number, number][]));
          closers.push(() => void c.end(true));
        }),
      );
    }
  };

  process.on('message', (command: WorkerCommand) => {
    void (async () => {
      try {
        switch (command.cmd) {
          case 'open':
            if (command.kind === 'hub') await openHub(command.url, command.token, command.topics);
            else await openMqtt(command.url, command.topics);
            send({ kind: 'opened', count: closers.length });
            break;
          case 'start':
            histogram = new Uint32Array(HISTOGRAM_BUCKETS);
            delivered = 0;
            measuring = true;
            break;
          case 'stop':
            measuring = false;
            send({ kind: 'stats', delivered, histogram: [...histogram.entries()].filter(([, n]) => n > 0) });
            break;
          case 'close':
            for (const close of closers.splice(0)) close();
            setTimeout(() => process.exit(0), 100);
            break;
        }
      } catch (err) {
        send({ kind: 'error', message: (err as Error).message });
      }
    })();
  });
}
