/** The bounded ingest queue's accounting: depth (held), waiting (not yet taken), the bound. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { IngestQueue, type PendingIngest } from '../../src/ingest/queue.js';

const message = (count: number): PendingIngest => ({
  points: { seq: null, count, events: [], eventBytes: [], values: new Float64Array(count), ts: new Float64Array(count) },
  owner: null,
  pluginInstancePublicId: null,
  resolve: () => undefined,
  reject: () => undefined,
});

describe('IngestQueue', () => {
  it('refuses a message that does not fit, whole', () => {
    const q = new IngestQueue(100);
    expect(q.offer(message(60))).toBe(true);
    expect(q.offer(message(41))).toBe(false);
    expect(q.offer(message(40))).toBe(true);
    expect([q.depth, q.waiting, q.length]).toEqual([100, 100, 2]);
  });

  it('takes up to maxPoints (at least one message), keeps depth until released, puts back in order', () => {
    const q = new IngestQueue(1000);
    const [a, b, c] = [message(30), message(30), message(30)];
    for (const m of [a, b, c]) q.offer(m);
    const batch = q.take(70);
    expect(batch).toEqual([a, b]);
    expect([q.depth, q.waiting]).toEqual([90, 30]);
    q.putBack(batch);
    expect([q.depth, q.waiting]).toEqual([90, 90]);
    expect(q.take(1000)).toEqual([a, b, c]);
    q.release([a, b, c]);
    expect([q.depth, q.waiting, q.length]).toEqual([0, 0, 0]);
    q.offer(message(500));
    expect(q.take(10)).toHaveLength(1);
  });

  it('regression: keeps no reference to messages it handed to the writer (an empty queue holds no memory)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const q = new IngestQueue(1_000_000);
    // In a function of its own, so no variable of this (suspended) test holds a message.
    const fill = (): WeakRef<PendingIngest>[] =>
      // Fewer than the 1024 messages after which the old queue compacted.
      Array.from({ length: 100 }, () => {
        const m = message(1000);
        q.offer(m);
        return new WeakRef(m);
      });
    const refs = fill();
    // Taken in several batches, written and released, as the writer does.
    const drain = (): void => {
      for (let taken = q.take(10_000); taken.length > 0; taken = q.take(10_000)) q.release(taken);
    };
    drain();
    expect([q.depth, q.length]).toEqual([0, 0]);
    await new Promise((r) => setImmediate(r));
    gc();
    expect(refs.map((r, i) => (r.deref() === undefined ? -1 : i)).filter((i) => i >= 0)).toEqual([]);
  });
});
