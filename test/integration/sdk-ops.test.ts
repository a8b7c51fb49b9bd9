/**
 * The SDK and the hub agree on the ops: the SDK's op list is the hub's registry, and its
 * generated request types are those of the committed AsyncAPI document (regenerate with
 * `npm run generate -w @telemetry-hub/client`). The compile-time half: a typo in an op or a
 * field is a type error (see the @ts-expect-error lines, checked by `npm run typecheck`).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generate } from '../../packages/client/scripts/generate-ops.js';
import { OP_NAMES, type Connection } from '../../packages/client/src/index.js';
import { docsOpRegistry } from '../../src/docs/asyncapi-document.js';
import { PUSHES } from '../../src/protocol/pushes.js';

describe('the SDK and the hub op registry', () => {
  it('list the same ops', () => {
    expect([...OP_NAMES]).toEqual(docsOpRegistry().names());
  });

  it('the generated request and push types are up to date with docs/asyncapi.json', () => {
    const committed = readFileSync(new URL('../../packages/client/src/ops.generated.ts', import.meta.url), 'utf8');
    expect(committed).toBe(generate());
  });

  it('types every push the hub sends', () => {
    const generated = readFileSync(new URL('../../packages/client/src/ops.generated.ts', import.meta.url), 'utf8');
    const pushBlock = generated.slice(generated.indexOf('export interface PushData'));
    for (const push of PUSHES) expect(pushBlock).toContain(`  ${push.op}: `);
  });

  it('makes a typo in an op or a field a compile error', () => {
    // Never called: only the type checker reads this.
    const typed = (c: Connection) => {
      void c.call('events.create', { name: 'x', unit: 'C' });
      // @ts-expect-error no such op
      void c.call('event.create', { name: 'x' });
      // @ts-expect-error no such field
      void c.call('events.create', { nmae: 'x' });
      // @ts-expect-error wrong type
      void c.call('ingest', { points: [{ event: 'e', value: '1' }] });
    };
    expect(typeof typed).toBe('function');
  });
});
