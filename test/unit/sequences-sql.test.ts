/** The seq marks' upsert text, sent with the COMMIT in one round trip: its values are inlined, so only checked ones. */
import { describe, expect, it } from 'vitest';
import { marksSql } from '../../src/ingest/sequences.js';

const token = '0190f3a2-7c1e-7d2a-9b3c-123456789abc';
const user = '0190f3a2-7c1e-7d2a-9b3c-cba987654321';
const mark = (key: string, owner: { apiTokenPublicId: string | null; userPublicId: string | null }, seq: number) =>
  [key, { owner: { key, ...owner }, seq }] as const;

describe('marksSql', () => {
  it('is empty without marks', () => {
    expect(marksSql(new Map())).toBe('');
  });

  it('upserts token and user marks on their own unique columns, never lowering a mark', () => {
    const text = marksSql(new Map([mark('t', { apiTokenPublicId: token, userPublicId: null }, 7), mark('u', { apiTokenPublicId: null, userPublicId: user }, 9)]));
    const statements = text.split(';\n');
    expect(statements).toHaveLength(2);
    expect(statements[0]).toContain(`INSERT INTO ingest_sequences (api_token_public_id, last_seq)`);
    expect(statements[0]).toContain(`unnest('{${token}}'::uuid[], '{7}'::bigint[])`);
    expect(statements[0]).toContain('GREATEST(ingest_sequences.last_seq, EXCLUDED.last_seq)');
    expect(statements[1]).toContain(`ON CONFLICT (user_public_id)`);
    expect(statements[1]).toContain(`'{${user}}'::uuid[], '{9}'::bigint[]`);
  });

  it('refuses to inline anything but a UUID and a safe integer', () => {
    expect(() => marksSql(new Map([mark('t', { apiTokenPublicId: "x'); DROP TABLE datapoints; --", userPublicId: null }, 1)]))).toThrow();
    expect(() => marksSql(new Map([mark('t', { apiTokenPublicId: token, userPublicId: null }, 1.5)]))).toThrow();
    expect(() => marksSql(new Map([mark('t', { apiTokenPublicId: token, userPublicId: null }, 2 ** 60)]))).toThrow();
  });
});
