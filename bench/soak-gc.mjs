// Preloaded into the soak's hub (node --expose-gc --import): on SIGUSR2, a full collection and
// then the heap still in use, read at once and written to stdout as one JSON line. Reading it in
// the same tick as the GC keeps the sample free of whatever the load allocates meanwhile.
// `heap_physical` and `new_space_physical` (bytes the heap, and its young generation, hold in
// memory) let bench:memory tell the young generation's growth from memory kept per socket.
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  const heap = getHeapStatistics();
  process.stdout.write(
    `${JSON.stringify({ soak_heap_after_gc: heap.used_heap_size, heap_physical: heap.total_physical_size, new_space_physical: newSpace?.physical_space_size ?? 0 })}\n`,
  );
});
