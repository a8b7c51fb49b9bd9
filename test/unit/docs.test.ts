/** The docs cannot drift: the error table, the op list and the AsyncAPI document follow the code. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { docsOpRegistry, renderAsyncApi } from '../../src/docs/asyncapi-document.js';
import { ERRORS } from '../../src/errors.js';
import { PUSHES } from '../../src/protocol/pushes.js';

const protocolDoc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
const committedAsyncApi = readFileSync(new URL('../../docs/asyncapi.json', import.meta.url), 'utf8');

/** The ops the hub serves: the one registry main.ts serves, built without a database. */
const registered = docsOpRegistry().names();

/** Op names in backticks: `ingest`, `auth.me`; not `<resource>.list` nor `.get`. */
const opNamesIn = (text: string): string[] => [...text.matchAll(/`([a-z_]+(?:\.[a-z_]+)?)`/g)].map(([, name]) => name as string);

/** The ops docs/protocol.md documents: its `### ` op headings and its list of the CRUD ops. */
function opsInProtocolDoc(): string[] {
  const ops = protocolDoc.slice(protocolDoc.indexOf('\n## Ops\n'), protocolDoc.indexOf('\n## ', protocolDoc.indexOf('\n## Ops\n') + 1));
  const headings = [...ops.matchAll(/^### (.*)$/gm)].flatMap(([, heading]) => opNamesIn(heading as string));
  const crudList = ops.slice(ops.indexOf('The CRUD ops, all of this form:'));
  const crud = opNamesIn(crudList.slice(0, crudList.indexOf('\n\n')));
  return [...new Set([...headings, ...crud])].sort();
}

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

  it('documents every registered op, and only registered ops (headings and the CRUD list)', () => {
    expect(opsInProtocolDoc()).toEqual(registered);
  });
});

describe('docs/asyncapi.json', () => {
  it('has an operation for every registered op, and none for an op the hub does not serve', () => {
    const asyncapi = JSON.parse(committedAsyncApi) as { operations: Record<string, { title: string; action: string }> };
    const documented = Object.values(asyncapi.operations)
      .filter(({ action }) => action === 'receive')
      .map(({ title }) => title)
      .sort();
    expect(documented).toEqual(registered);
  });

  it('has a send operation for every push, each named in docs/protocol.md', () => {
    const asyncapi = JSON.parse(committedAsyncApi) as { operations: Record<string, { title: string; action: string }> };
    const pushes = Object.values(asyncapi.operations)
      .filter(({ action }) => action === 'send')
      .map(({ title }) => title.replace(/^push /, ''))
      .sort();
    expect(pushes).toEqual(PUSHES.map((p) => p.op).sort());
    for (const op of pushes) expect(protocolDoc, op).toContain(`{"op": "${op}"`);
  });

  it('covers the ops of ingest and live fan-out, which are not domain CRUD', () => {
    expect(registered).toEqual(expect.arrayContaining(['ingest', 'subscribe', 'unsubscribe', 'datapoints.query', 'datapoints.latest']));
  });

  it('is what `npm run docs:generate` makes of the current code', () => {
    expect(committedAsyncApi).toBe(renderAsyncApi());
  });
});
