/**
 * `npm run fuzz -- --runs 1000000 [--seed N] [--only <substring>]`: the fuzz suite's properties
 * (test/support/fuzz-properties.ts) run long, without vitest or a database. `--runs` is per
 * property, scaled by each property's weight as in the CI run. Prints a table and, with
 * `--json`, one JSON line; exits 1 on the first failure, with fast-check's seed and path to
 * replay it (FUZZ_SEED=<seed> npx vitest run test/unit/fuzz-protocol.test.ts).
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { runs: { type: 'string' }, seed: { type: 'string' }, only: { type: 'string' }, json: { type: 'boolean' } },
  allowPositionals: false,
});
const runs = Number(values.runs ?? 10_000);
if (!Number.isSafeInteger(runs) || runs < 1) {
  console.error('--runs must be a positive integer');
  process.exit(2);
}
// The inputs module reads these when it loads, so set them before importing it.
process.env.FUZZ_RUNS = String(runs);
if (values.seed !== undefined) process.env.FUZZ_SEED = values.seed;

const { FUZZ_PROPERTIES, failureMessage } = await import('../test/support/fuzz-properties.js');
const { CASE_LIMIT_MS } = await import('../test/support/fuzz-inputs.js');

const seed = values.seed === undefined ? Date.now() ^ (Math.random() * 0x100000000) : Number(values.seed);
const rows: { property: string; runs: number; seconds: number; failures: number }[] = [];
let failed = false;
const started = performance.now();
for (const p of FUZZ_PROPERTIES) {
  if (values.only !== undefined && !p.name.includes(values.only)) continue;
  const numRuns = Math.max(1, Math.round((runs * p.weight) / 2));
  const t0 = performance.now();
  const details = p.check({ numRuns, seed });
  const seconds = (performance.now() - t0) / 1000;
  rows.push({ property: p.name, runs: details.numRuns, seconds, failures: details.failed ? 1 : 0 });
  if (!values.json) console.error(`${details.failed ? 'FAIL' : 'ok  '} ${p.name}: ${details.numRuns} runs in ${seconds.toFixed(1)} s`);
  if (details.failed) {
    failed = true;
    console.error(failureMessage(details));
    break;
  }
}
const total = { runs: rows.reduce((n, r) => n + r.runs, 0), seconds: (performance.now() - started) / 1000, failures: rows.reduce((n, r) => n + r.failures, 0) };
if (values.json) {
  console.log(JSON.stringify({ bench: 'fuzz', seed, runs_per_property: runs, case_limit_ms: CASE_LIMIT_MS, properties: rows, total }));
} else {
  const width = Math.max(...rows.map((r) => r.property.length), 8);
  console.log(`\nfuzz, seed ${seed}, --runs ${runs} (per property, by weight), a case over ${CASE_LIMIT_MS} ms fails`);
  console.log(`${'property'.padEnd(width)}  ${'runs'.padStart(9)}  ${'seconds'.padStart(8)}  failures`);
  for (const r of rows) console.log(`${r.property.padEnd(width)}  ${String(r.runs).padStart(9)}  ${r.seconds.toFixed(1).padStart(8)}  ${r.failures}`);
  console.log(`${'total'.padEnd(width)}  ${String(total.runs).padStart(9)}  ${total.seconds.toFixed(1).padStart(8)}  ${total.failures}`);
}
process.exit(failed ? 1 : 0);
