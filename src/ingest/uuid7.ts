/**
 * Time-ordered UUIDs (RFC 9562 version 7), written straight into a buffer: 48 bits of Unix
 * milliseconds, then a 12-bit counter that keeps ids made within one millisecond in order, then
 * 62 random bits. Datapoint ids made this way keep the unique index append-only under COPY
 * (random v4 ids halve COPY throughput: DESIGN.md).
 */
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 64 * 1024;
const MAX_MS = 2 ** 48;

export class Uuid7Generator {
  private pool = Buffer.allocUnsafe(POOL_SIZE);
  private poolOffset = POOL_SIZE;
  private lastMs = 0;
  private counter = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Writes one UUIDv7 (16 bytes) into `target` at `offset`. */
  write(target: Buffer, offset: number): void {
    let ms = this.now();
    if (ms <= this.lastMs) {
      // Same (or a backwards-stepping) millisecond: count up, borrowing the next millisecond
      // when the 12-bit counter runs out, so ids never go backwards.
      ms = this.lastMs;
      this.counter++;
      if (this.counter > 0xfff) {
        ms = ++this.lastMs;
        this.counter = 0;
      }
    } else {
      this.lastMs = ms;
      this.counter = 0;
    }
    if (this.poolOffset + 8 > POOL_SIZE) {
      randomFillSync(this.pool);
      this.poolOffset = 0;
    }
    // 48-bit big-endian milliseconds.
    const high = Math.floor(ms / 0x10000);
    target.writeUInt32BE(high >>> 0, offset);
    target.writeUInt16BE(ms & 0xffff, offset + 4);
    // version 7 + 12-bit counter
    target.writeUInt16BE(0x7000 | this.counter, offset + 6);
    // variant 10 + 62 random bits
    this.pool.copy(target, offset + 8, this.poolOffset, this.poolOffset + 8);
    target[offset + 8] = ((target[offset + 8] as number) & 0x3f) | 0x80;
    this.poolOffset += 8;
  }

  /**
   * Writes one UUIDv7 carrying `ms` (a datapoint's own time) instead of now: 48 bits of `ms`,
   * then 74 random bits. Ids of one millisecond are unique but in no order; what counts is that
   * the id names the time, and so the partition, of its row (PROTOCOL.md §16). A time the
   * 48 bits cannot hold gets an id of now.
   */
  writeAt(target: Buffer, offset: number, ms: number): void {
    if (!(ms >= 0 && ms < MAX_MS)) return this.write(target, offset);
    if (this.poolOffset + 10 > POOL_SIZE) {
      randomFillSync(this.pool);
      this.poolOffset = 0;
    }
    target.writeUInt32BE(Math.floor(ms / 0x10000) >>> 0, offset);
    target.writeUInt16BE(ms & 0xffff, offset + 4);
    this.pool.copy(target, offset + 6, this.poolOffset, this.poolOffset + 10);
    target[offset + 6] = ((target[offset + 6] as number) & 0x0f) | 0x70;
    target[offset + 8] = ((target[offset + 8] as number) & 0x3f) | 0x80;
    this.poolOffset += 10;
  }

  /** One UUIDv7 as text (for tests and the rare caller that wants a string). */
  next(): string {
    const b = Buffer.allocUnsafe(16);
    this.write(b, 0);
    return uuidToString(b, 0);
  }
}

/** The canonical text form of 16 bytes. */
export function uuidToString(bytes: Buffer, offset = 0): string {
  const hex = bytes.toString('hex', offset, offset + 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The 16 bytes of a UUID in text form. */
export function uuidToBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}
