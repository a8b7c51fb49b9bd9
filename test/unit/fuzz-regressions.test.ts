/**
 * Defects the fuzz suite found, each pinned by the smallest input that showed it (issue 8).
 * @see test/support/fuzz-properties.ts
 */
import { describe, expect, it } from 'vitest';
import type { Principal, UserRow } from '../../src/auth/principal.js';
import { HubError } from '../../src/errors.js';
import type { Catalog } from '../../src/ingest/catalog.js';
import { uuidToBytes } from '../../src/ingest/uuid7.js';
import { validateIngest } from '../../src/ingest/validate.js';
import { decodeFrame } from '../../src/protocol/codec.js';
import { parseRequest } from '../../src/protocol/envelope.js';
import { updateSchema } from '../../src/protocol/schemas.js';
import { compileSchema, MAX_DATA_DEPTH } from '../../src/protocol/validate.js';

const EVENT = '01899a5e-7c2b-7000-8000-000000000001';
const catalog = {
  event: (id: string) => (id === EVENT ? { id, bytes: uuidToBytes(id) } : undefined),
  channel: () => undefined,
  instanceHasEvent: () => false,
} as unknown as Catalog;
const operator: Principal = {
  role: 'operator',
  user: { public_id: '01899a5e-7c2b-7000-8000-0000000000aa', username: 'op', role: 'operator' } as UserRow,
  kind: 'login',
  tokenId: 't',
  expiresAt: null,
  pluginInstancePublicId: null,
};

/** MessagePack `{"op":"ingest","data":{"points":[{"event":EVENT,"value":<value bytes>}]}}`. */
function ingestFrame(value: number[]): Uint8Array {
  const str = (s: string) => [0xd9, s.length, ...Buffer.from(s)];
  return Uint8Array.from([
    0x82, ...str('op'), ...str('ingest'), ...str('data'),
    0x81, ...str('points'), 0x91, 0x82, ...str('event'), ...str(EVENT), ...str('value'), ...value,
  ]);
}

describe('ingest validator (found by fuzzing)', () => {
  it('answers a BigInt point value (MessagePack ext 0x42) with 422, not a TypeError', () => {
    const decoded = decodeFrame(ingestFrame([0xd4, 0x42, 0x05]), true);
    expect(decoded.ok && typeof ((decoded.value as { data: { points: { value: unknown }[] } }).data.points[0]?.value)).toBe('bigint');
    const parsed = parseRequest(decoded.ok ? decoded.value : null);
    if (!parsed.ok) throw new Error('not a request');
    const result = validateIngest(parsed.request.data, operator, catalog, 10_000, Date.now(), true);
    expect(result.kind === 'error' && [result.error instanceof HubError, result.error.status, result.error.details]).toEqual([
      true,
      422,
      [{ path: '/points/0/value', message: 'must be a finite number' }],
    ]);
  });

  it('answers a point value nested thousands of levels deep with 422, not a stack overflow', () => {
    const text = `{"points":[{"event":"${EVENT}","value":${'['.repeat(20_000)}${']'.repeat(20_000)}}]}`;
    const decoded = decodeFrame(new TextEncoder().encode(text), false);
    const data = (decoded.ok ? decoded.value : {}) as Record<string, unknown>;
    const result = validateIngest(data, operator, catalog, 10_000, Date.now(), true);
    expect(result.kind === 'error' && result.error.status).toBe(422);
  });
});

describe('op validators (found by fuzzing)', () => {
  it('answers webhooks.update with "events" nested thousands of levels deep with 422, not a stack overflow (uniqueItems)', () => {
    const validator = compileSchema(updateSchema('webhooks'));
    let events: unknown = 'sensor.reading';
    for (let i = 0; i < 20_000; i++) events = [events];
    let thrown: unknown;
    try {
      validator.assert({ public_id: 'x', events });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(HubError);
    expect((thrown as HubError).toWire()).toMatchObject({
      status: 422,
      details: [{ path: '/events', message: `must be nested at most ${MAX_DATA_DEPTH} levels deep` }],
    });
  });

  it('still reports ordinary problems of shallow data field by field', () => {
    expect(() => compileSchema(updateSchema('webhooks')).assert({ public_id: 'x', events: [['a']] })).toThrow(HubError);
  });
});
