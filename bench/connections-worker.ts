/**
 * One client process of bench:connections: opens its share of authenticated sockets to the hub,
 * a bounded number at a time, timing each from `new WebSocket` to `open`; proves a sample of
 * them live with `auth.me`; holds them all until told to close. Talks to bench/connections.ts
 * over the fork's IPC channel.
 */
import WebSocket from 'ws';

export interface WorkerTask {
  readonly wsUrl: string;
  /** The tokens to spread this worker's sockets over (round robin). */
  readonly tokens: readonly string[];
  readonly sockets: number;
  /** Sockets being opened at once. */
  readonly concurrency: number;
  /** Every n-th socket sends `auth.me` once all are open. */
  readonly probeEvery: number;
}

export interface WorkerReport {
  readonly opened: number;
  readonly failed: number;
  readonly firstError: string | null;
  /** Milliseconds from `new WebSocket` to `open`, per opened socket. */
  readonly connectMs: number[];
  /** Wall time to open them all. */
  readonly rampMs: number;
  readonly probes: number;
  readonly probesOk: number;
}

const open: WebSocket[] = [];

function openOne(url: string, token: string): Promise<{ ws: WebSocket; ms: number }> {
  const t0 = performance.now();
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, ms: performance.now() - t0 }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/** Asks `auth.me` on one socket; true when the hub answers it. */
function probe(ws: WebSocket): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000);
    ws.once('message', (data: Buffer) => {
      clearTimeout(timer);
      resolve((JSON.parse(data.toString()) as { ok?: boolean }).ok === true);
    });
    ws.send(JSON.stringify({ id: 1, op: 'auth.me' }));
  });
}

async function run(task: WorkerTask): Promise<WorkerReport> {
  const connectMs: number[] = [];
  let failed = 0;
  let firstError: string | null = null;
  let next = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < task.sockets) {
      const i = next++;
      try {
        const { ws, ms } = await openOne(task.wsUrl, task.tokens[i % task.tokens.length] as string);
        connectMs.push(ms);
        open.push(ws);
        ws.on('error', () => undefined);
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(task.concurrency, task.sockets) }, lane));
  const rampMs = performance.now() - started;
  const sample = open.filter((_, i) => i % task.probeEvery === 0);
  const results = await Promise.all(sample.map(probe));
  return { opened: open.length, failed, firstError, connectMs, rampMs, probes: sample.length, probesOk: results.filter(Boolean).length };
}

process.on('message', (message: { kind: 'start'; task: WorkerTask } | { kind: 'close' }) => {
  if (message.kind === 'start') {
    void run(message.task).then((report) => process.send?.({ kind: 'report', report }));
  } else {
    // Each socket closes with a close frame; the process exits once they are gone.
    let left = open.length;
    if (left === 0) process.exit(0);
    for (const ws of open) {
      ws.once('close', () => {
        if (--left === 0) process.exit(0);
      });
      ws.close(1000);
    }
    setTimeout(() => process.exit(0), 20_000).unref();
  }
});

// The bench went away: so do this process's sockets.
process.on('disconnect', () => process.exit(0));
