/**
 * `npm run bench:memory`: the hub's memory per idle authenticated socket. Opens `--sockets`
 * sockets of one login token that send nothing, and reads the hub's RSS (/proc) and its heap in
 * use after a full GC (soak-gc.mjs) before and after; prints both per socket. RSS is the aim's
 * figure (it includes uWS's native per-socket memory); the heap is what the hub's own objects
 * hold, the part this code decides. Opening thousands of sockets at once also grows V8's young
 * generation (up to its fixed cap, 32 MiB here), memory the process keeps but that no socket
 * holds: that growth is printed beside, and RSS without it. The hub is also sampled halfway, so
 * the second half's RSS per socket (`marginal_bytes_per_idle_socket`) is the cost of one more
 * socket once the process's one-time growth (young generation, first old-space pages, uWS's
 * first buffers) is paid: the figure that scales to 100 000 sockets.
 *
 * Flags (or BENCH_<NAME>): --sockets 10000 --batch 200 --json. Runs the build (dist/) unless
 * BENCH_ENTRY=src.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { adminToken, flags, machine, startBenchHub, table, type BenchHub } from './lib.js';
import { GC_PRELOAD } from './soak-run.js';

const opts = flags({ sockets: '10000', batch: '200' });
const count = Number(opts.sockets);
const batch = Math.max(1, Number(opts.batch));
/** The aim of issue 14 §6, bytes of RSS per idle authenticated socket. */
const AIM_BYTES = 3 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const hub = await startBenchHub({}, ['--expose-gc', '--import', GC_PRELOAD]);
const sockets: WebSocket[] = [];
try {
  const heapAfterGc = gcReader(hub);
  const rss = () => Number(readFileSync(`/proc/${hub.child.pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  const sample = async () => {
    const heap = heapAfterGc();
    hub.child.kill('SIGUSR2');
    const figures = await heap;
    await sleep(200);
    return { rss: rss(), heap: figures.soak_heap_after_gc, young: figures.new_space_physical };
  };
  const token = await adminToken(hub);
  // One socket first, so that code paths run once (lazy module state) are not counted per socket.
  const warm = await open(token);
  await sleep(500);
  const before = await sample();
  const openUpTo = async (n: number) => {
    while (sockets.length < n) sockets.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - sockets.length) }, () => open(token)))));
    await sleep(1000);
  };
  const half = Math.floor(count / 2);
  await openUpTo(half);
  const middle = await sample();
  await openUpTo(count);
  const after = await sample();
  warm.terminate();
  const perSocket = (a: number, b: number) => Math.round((b - a) / sockets.length);
  const result = {
    bench: 'memory',
    machine: machine(),
    sockets: sockets.length,
    hub_rss_before_mb: Number((before.rss / 2 ** 20).toFixed(1)),
    hub_rss_after_mb: Number((after.rss / 2 ** 20).toFixed(1)),
    bytes_per_idle_socket: perSocket(before.rss, after.rss),
    young_generation_growth_mb: Number(((after.young - before.young) / 2 ** 20).toFixed(1)),
    bytes_per_idle_socket_without_young_growth: perSocket(before.rss, after.rss - (after.young - before.young)),
    heap_bytes_per_idle_socket: perSocket(before.heap, after.heap),
    marginal_sockets: sockets.length - half,
    marginal_bytes_per_idle_socket: Math.round((after.rss - middle.rss) / Math.max(1, sockets.length - half)),
    marginal_young_generation_growth_mb: Number(((after.young - middle.young) / 2 ** 20).toFixed(1)),
    marginal_heap_bytes_per_idle_socket: Math.round((after.heap - middle.heap) / Math.max(1, sockets.length - half)),
    aim_bytes_per_idle_socket: AIM_BYTES,
  };
  if (opts.json) console.log(JSON.stringify(result));
  else {
    console.log(`bench:memory — ${result.machine}; ${result.sockets} idle authenticated sockets (one login token)`);
    console.log(
      table([
        { memory: 'RSS', before: `${result.hub_rss_before_mb} MB`, after: `${result.hub_rss_after_mb} MB`, 'bytes per socket': result.bytes_per_idle_socket, aim: `< ${AIM_BYTES}` },
        {
          memory: 'RSS less young-generation growth',
          before: '',
          after: `−${result.young_generation_growth_mb} MB`,
          'bytes per socket': result.bytes_per_idle_socket_without_young_growth,
          aim: '',
        },
        { memory: 'heap used after GC', before: `${(before.heap / 2 ** 20).toFixed(1)} MB`, after: `${(after.heap / 2 ** 20).toFixed(1)} MB`, 'bytes per socket': result.heap_bytes_per_idle_socket, aim: '' },
        {
          memory: `RSS, the second ${result.marginal_sockets} sockets only`,
          before: `${(middle.rss / 2 ** 20).toFixed(1)} MB`,
          after: `${result.hub_rss_after_mb} MB`,
          'bytes per socket': result.marginal_bytes_per_idle_socket,
          aim: `< ${AIM_BYTES}`,
        },
      ]),
    );
    console.log(`young generation growth in the second half: ${result.marginal_young_generation_growth_mb} MB; heap per socket there: ${result.marginal_heap_bytes_per_idle_socket} bytes`);
  }
} finally {
  for (const ws of sockets) ws.terminate();
  await hub.stop();
}

interface GcFigures {
  soak_heap_after_gc: number;
  new_space_physical: number;
}

/** Reads the hub's stdout for soak-gc.mjs's lines; each call waits for the next one. */
function gcReader(target: BenchHub): () => Promise<GcFigures> {
  let waiting: ((figures: GcFigures) => void)[] = [];
  let partial = '';
  target.child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{"soak_heap_after_gc"')) continue;
      const figures = JSON.parse(line) as GcFigures;
      for (const resolve of waiting.splice(0)) resolve(figures);
    }
  });
  return () => new Promise((resolve) => waiting.push(resolve));
}

function open(token: string): Promise<WebSocket> {
  const ws = new WebSocket(hub.wsUrl, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
  return new Promise((resolve, reject) => ws.once('open', () => resolve(ws)).once('error', reject));
}
