/**
 * The soak's one-minute CI form (issue 8, "Standing suites"): a hub under ingest, fan-out, CRUD
 * and reconnecting clients for 60 s must not grow its heap (measured after a forced GC) faster
 * than a generous bound. A hub that kept every ingest message, as the queue once did, grows
 * about three times faster than the bound at these rates (checked with a scratch preload that
 * leaks so, through bench/soak-run.ts `hubNodeArgs`). The long form is `npm run soak -- --minutes 10`.
 */
import { inject, it, expect } from 'vitest';
import { runSoak } from '../../bench/soak-run.js';

/**
 * MB/min. A healthy hub shows about 1.4 here (the end of its warm-up); one keeping every decoded
 * ingest message shows about 14 (measured with a scratch preload, 2 × EPYC, Node 20).
 */
const MAX_HEAP_SLOPE = 5;

it('holds its heap flat over a minute of mixed load, after a warm-up', async () => {
  // The bench helpers read these: the hub runs from src/ on this run's PostgreSQL.
  process.env.BENCH_ENTRY = 'src';
  process.env.DATABASE_URL = inject('adminUrl');
  const result = await runSoak({
    seconds: 70,
    warmupSeconds: 25,
    sampleSeconds: 2,
    ingestRate: 2_000,
    pointsPerMessage: 50,
    devices: 2,
    subscribers: 4,
    crudRate: 2,
    reconnectors: 2,
    maxHeapSlope: MAX_HEAP_SLOPE,
  });
  const summary = `heap ${result.start.heapMb.toFixed(1)} → ${result.end.heapMb.toFixed(1)} MB, slope ${result.heapSlope.toFixed(2)} MB/min; ${JSON.stringify(result.counts)}; ${result.firstErrors.join('; ')}`;
  expect(result.counts.errors, summary).toBe(0);
  expect(result.counts.ingestAcks, summary).toBeGreaterThan(0);
  expect(result.counts.pushes, summary).toBeGreaterThan(0);
  expect(result.counts.crudCycles, summary).toBeGreaterThan(0);
  expect(result.counts.reconnects, summary).toBeGreaterThan(0);
  expect(result.fittedSamples, summary).toBeGreaterThanOrEqual(10);
  expect(result.heapSlope, summary).toBeLessThan(MAX_HEAP_SLOPE);
}, 180_000);
