/** Imports point down: the protocol layer knows nothing of the domain, the database or the transport. */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const PROTOCOL = new URL('../../src/protocol/', import.meta.url);

/** Every module a file imports (static `from '…'` and dynamic `import('…')`). */
function importsOf(source: string): string[] {
  return [...source.matchAll(/(?:from\s+|import\s*\(\s*)'([^']+)'/g)].map(([, spec]) => spec as string);
}

describe('src/protocol/', () => {
  it('imports neither domain/, db/, ingest/, live/, server/ nor pg or uWebSockets.js', () => {
    const upward: string[] = [];
    for (const file of readdirSync(PROTOCOL).filter((name) => name.endsWith('.ts'))) {
      for (const spec of importsOf(readFileSync(new URL(file, PROTOCOL), 'utf8'))) {
        if (/^\.\.\/(domain|db|ingest|live|server)\//.test(spec) || /^(pg|pg-copy-streams|drizzle-orm|uWebSockets\.js)(\/|$)/.test(spec)) {
          upward.push(`${file} → ${spec}`);
        }
      }
    }
    expect(upward).toEqual([]);
  });
});
