import { describe, expect, it } from 'vitest';
import { encodeCopy, rowBytes } from '../../src/ingest/copy-encoder.js';
import { Uuid7Generator, uuidToBytes, uuidToString } from '../../src/ingest/uuid7.js';

const EVENT = '0b151337-faf2-48b1-a848-25e923f92898';
const EXPERIMENT = 'a30e0b17-078f-449a-8f2a-33e2c1e231bf';

function source(values: number[], ts: number[]) {
  return { count: values.length, events: values.map(() => uuidToBytes(EVENT)), values: Float64Array.from(values), ts: Float64Array.from(ts) };
}

describe('binary COPY encoding', () => {
  it('writes the header, one 5-field tuple per row and the trailer', () => {
    const ids = new Uuid7Generator(() => 1_700_000_000_000);
    const buf = encodeCopy([source([1.5], [946_684_800_001.5])], null, ids);
    expect(buf.subarray(0, 11)).toEqual(Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'));
    expect(buf.readInt32BE(11)).toBe(0);
    expect(buf.readInt32BE(15)).toBe(0);
    expect(buf.length).toBe(19 + rowBytes(false) + 2);
    let o = 19;
    expect(buf.readInt16BE(o)).toBe(5);
    expect(buf.readInt32BE(o + 2)).toBe(16); // public_id
    expect(buf.readInt32BE(o + 22)).toBe(16); // event
    expect(uuidToString(buf, o + 26)).toBe(EVENT);
    expect(buf.readInt32BE(o + 42)).toBe(-1); // no experiment: NULL
    o += 46;
    expect(buf.readInt32BE(o)).toBe(8);
    expect(buf.readDoubleBE(o + 4)).toBe(1.5);
    expect(buf.readInt32BE(o + 12)).toBe(8);
    expect(buf.readBigInt64BE(o + 16)).toBe(1500n); // 1.5 ms after 2000-01-01, in µs
    expect(buf.readInt16BE(buf.length - 2)).toBe(-1);
  });

  it('encodes times before 2000 as negative microseconds, and the experiment when given', () => {
    const buf = encodeCopy([source([-2, 3], [0, 1_764_000_000_123])], uuidToBytes(EXPERIMENT), new Uuid7Generator());
    const row = rowBytes(true);
    expect(buf.length).toBe(19 + 2 * row + 2);
    expect(uuidToString(buf, 19 + 46)).toBe(EXPERIMENT);
    expect(buf.readDoubleBE(19 + 66)).toBe(-2);
    expect(buf.readBigInt64BE(19 + 78)).toBe(-946_684_800_000_000n);
    expect(buf.readBigInt64BE(19 + row + 78)).toBe((1_764_000_000_123n - 946_684_800_000n) * 1000n);
  });
});

describe('UUIDv7', () => {
  it('has version 7, the RFC variant and the millisecond time in front', () => {
    const id = new Uuid7Generator(() => 0x0123_4567_89ab).next();
    expect(id).toMatch(/^01234567-89ab-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('stays in order within one millisecond and when the clock steps back', () => {
    let now = 1_000_000;
    const gen = new Uuid7Generator(() => now);
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (i === 5000) now -= 10;
      ids.push(gen.next());
    }
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
