/** The docs cannot drift: the error table, the op list and the AsyncAPI document follow the code. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/errors.js';
import { renderAsyncApi } from '../../src/protocol/asyncapi-document.js';

const protocolDoc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

describe('docs/protocol.md', () => {
  it('has one row per error code, with the registry status, and no other', () => {
    const rows = [...protocolDoc.matchAll(/^\| (\d{3}) \| `([a-z_]+)` \|/gm)].map(([, status, code]) => `${status} ${code}`);
    const registry = Object.entries(ERRORS).map(([code, { status }]) => `${status} ${code}`);
    expect(rows.sort()).toEqual(registry.sort());
  });

  it('says which errors a retry helps, as the registry does', () => {
    for (const [code, { retryable }] of Object.entries(ERRORS)) {
      const row = protocolDoc.split('\n').find((line) => line.includes(`| \`${code}\` |`));
      expect(row, code).toBeDefined();
      expect(row?.trim().endsWith(retryable ? '|' : '| no |'), code).toBe(true);
      if (retryable) expect(row, code).toMatch(/\| yes[^|]*\|$/);
    }
  });

  it('documents every op the hub serves', () => {
    const asyncapi = JSON.parse(renderAsyncApi()) as { operations: Record<string, { title: string }> };
    for (const { title } of Object.values(asyncapi.operations)) expect(protocolDoc, title).toContain(`\`${title}\``);
  });
});

describe('docs/asyncapi.json', () => {
  it('is what `npm run docs:generate` makes of the current code', () => {
    const committed = readFileSync(new URL('../../docs/asyncapi.json', import.meta.url), 'utf8');
    expect(committed).toBe(renderAsyncApi());
  });
});
