/**
 * Property-based fuzzing of everything a client's bytes reach before a handler runs: the codec,
 * the envelope, every op's validator and the ingest validator. Short here (FUZZ_RUNS, default
 * small); `npm run fuzz -- --runs N` runs the same properties long. @see issue 8, "Standing suites"
 */
import { describe, it } from 'vitest';
import { FUZZ_RUNS, FUZZ_SEED } from '../support/fuzz-inputs.js';
import { FUZZ_PROPERTIES, reporter } from '../support/fuzz-properties.js';

describe('fuzz: no input throws outside the error registry or hangs', () => {
  for (const p of FUZZ_PROPERTIES) {
    const numRuns = Math.max(1, Math.round((FUZZ_RUNS * p.weight) / 2));
    it(p.name, () => reporter(p.check({ numRuns, seed: FUZZ_SEED })), 30_000 + numRuns * 200);
  }
});
