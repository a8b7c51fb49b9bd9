/**
 * The gap fill's bookkeeping on a fake commit log: which commits it reads back, what it holds
 * meanwhile, and what it drops as already filled. (The real log and two hubs on a real NATS:
 * test/integration/cluster-outage.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import type { LiveBatch } from '../../src/live/fanout.js';
import { GapFill, type MissedCommitsSource } from '../../src/live/gap-fill.js';

interface Commit {
  epoch: number;
  hub: string;
  event: string;
  value: number;
}

/** A commit log in memory; `gate` (when set) holds each read until it resolves. */
function fakeLog(commits: Commit[], options: { oldest?: number; failures?: number; epochAtWatch?: number } = {}) {
  let failures = options.failures ?? 0;
  const reads: number[] = [];
  let gate: Promise<void> | undefined;
  const source: MissedCommitsSource = {
    readEpoch: async () => options.epochAtWatch ?? Math.max(0, ...commits.map((c) => c.epoch)),
    missed: async (q, onChunk) => {
      reads.push(q.after);
      if (gate !== undefined) await gate;
      if (failures-- > 0) throw new Error('database down');
      const snapshot = Math.max(0, ...commits.map((c) => c.epoch));
      const rows = commits
        .filter((c) => c.epoch > q.after && c.hub !== q.me && q.events.includes(c.event))
        .sort((x, y) => x.epoch - y.epoch)
        .map((c) => ({ epoch: c.epoch, hub: c.hub, event: c.event, ts: c.epoch, value: c.value }));
      await onChunk(rows);
      return { snapshot, truncated: options.oldest !== undefined && options.oldest > q.after + 1 };
    },
  };
  return {
    source,
    reads,
    hold(): () => void {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      return () => {
        gate = undefined;
        open();
      };
    },
  };
}

function setup(log: ReturnType<typeof fakeLog>, extra: { maxHeldPoints?: number } = {}) {
  const got: number[] = [];
  const lost: string[][] = [];
  const fill = new GapFill({
    me: 'me',
    source: log.source,
    deliver: (b: LiveBatch) => {
      for (const points of b.byEvent.values()) got.push(...points.map(([, v]) => v));
    },
    lost: (events) => lost.push(events),
    onError: () => undefined,
    retryMs: 1,
    ...extra,
  });
  return { fill, got, lost };
}

const batch = (hub: string, epoch: number, value: number, event = 'x') => ({ hub, event, epoch, points: [[epoch, value]] as [number, number][] });

describe('GapFill', () => {
  it('reads back the commits of other hubs after what it heard of each, and drops the held ones of its snapshot', async () => {
    const commits: Commit[] = [{ epoch: 1, hub: 'a', event: 'x', value: 1 }];
    const log = fakeLog(commits);
    const { fill, got } = setup(log);
    fill.watch('x', Promise.resolve());
    await fill.idle();
    await new Promise((r) => setTimeout(r, 0));
    fill.receive(batch('a', 2, 2));
    // NATS away: A commits 3 and 4, B commits 5; our own commit 6 is never read back.
    commits.push({ epoch: 2, hub: 'a', event: 'x', value: 2 }, { epoch: 3, hub: 'a', event: 'x', value: 3 }, { epoch: 4, hub: 'a', event: 'x', value: 4 });
    commits.push({ epoch: 5, hub: 'b', event: 'x', value: 5 }, { epoch: 6, hub: 'me', event: 'x', value: 6 });
    const open = log.hold();
    fill.fill();
    // Arriving while the fill reads: 4 (in its snapshot) and 7 (after it).
    fill.receive(batch('a', 4, 4));
    commits.push({ epoch: 7, hub: 'a', event: 'x', value: 7 });
    open();
    await new Promise((r) => setTimeout(r, 0));
    // 7 was in the fill's snapshot; its bus message comes late, after the fill: not again.
    fill.receive(batch('a', 7, 7));
    await fill.idle();
    expect(got).toEqual([2, 3, 4, 5, 7]);
    expect(fill.stats.droppedDuplicates).toBe(2);
    fill.receive(batch('a', 8, 8));
    expect(got.at(-1)).toBe(8);
  });

  it('a hub back from an outage of its own: its commits after its resync point, also when it was never heard', async () => {
    const commits: Commit[] = [];
    const log = fakeLog(commits);
    const { fill, got } = setup(log);
    fill.watch('x', Promise.resolve());
    await new Promise((r) => setTimeout(r, 0));
    // C (never heard) committed 1..3 while cut off; meanwhile our base was raised past them.
    commits.push({ epoch: 1, hub: 'c', event: 'x', value: 1 }, { epoch: 2, hub: 'c', event: 'x', value: 2 }, { epoch: 3, hub: 'c', event: 'x', value: 3 });
    fill.raiseBase(3);
    fill.resync('c', 0);
    await fill.idle();
    expect(got).toEqual([1, 2, 3]);
    // Its resync again (a second blip) reads nothing twice.
    fill.resync('c', 0);
    await fill.idle();
    expect(got).toEqual([1, 2, 3]);
  });

  it('a log purged past the outage: the events are reported lost (their subscribers resume with since)', async () => {
    const log = fakeLog([{ epoch: 50, hub: 'a', event: 'x', value: 1 }], { oldest: 40, epochAtWatch: 0 });
    const { fill, lost } = setup(log);
    fill.watch('x', Promise.resolve());
    await new Promise((r) => setTimeout(r, 0));
    fill.fill();
    await fill.idle();
    expect(lost).toEqual([['x']]);
  });

  it('retries a failed read, holding what arrives meanwhile', async () => {
    const commits: Commit[] = [];
    const log = fakeLog(commits, { failures: 2 });
    const { fill, got } = setup(log);
    fill.watch('x', Promise.resolve());
    await new Promise((r) => setTimeout(r, 0));
    commits.push({ epoch: 1, hub: 'a', event: 'x', value: 1 });
    fill.fill();
    fill.receive(batch('a', 2, 2));
    commits.push({ epoch: 2, hub: 'a', event: 'x', value: 2 });
    await fill.idle();
    expect(log.reads.length).toBeGreaterThanOrEqual(3);
    expect(got).toEqual([1, 2]);
  });

  it('past its bound it drops what it holds and reads it back with the next fill', async () => {
    const commits: Commit[] = [];
    const log = fakeLog(commits);
    const { fill, got } = setup(log, { maxHeldPoints: 2 });
    fill.watch('x', Promise.resolve());
    await new Promise((r) => setTimeout(r, 0));
    const open = log.hold();
    fill.fill();
    for (let e = 1; e <= 5; e++) {
      commits.push({ epoch: e, hub: 'a', event: 'x', value: e });
      fill.receive(batch('a', e, e));
    }
    open();
    await fill.idle();
    expect(got).toEqual([1, 2, 3, 4, 5]);
  });
});
