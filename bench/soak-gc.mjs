// Preloaded into the soak's hub (node --expose-gc --import): on SIGUSR2, a full collection and
// then the heap still in use, read at once and written to stdout as one JSON line. Reading it in
// the same tick as the GC keeps the sample free of whatever the load allocates meanwhile.
import { getHeapStatistics } from 'node:v8';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  process.stdout.write(`${JSON.stringify({ soak_heap_after_gc: getHeapStatistics().used_heap_size })}\n`);
});
