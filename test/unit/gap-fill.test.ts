/**
 * The gap fill's bookkeeping on a fake commit log: which commits it reads back, what it holds
 * meanwhile, and what it drops as already handed on. (The real log and hubs on a real NATS:
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

const KEEP_MS = 60 * 60_000;

/** A commit log in memory; `hold()` makes the next reads wait until released. */
function fakeLog(commits: Commit[], options: { failures?: number; epochAtWatch?: number } = {}) {
  let failures = options.failures ?? 0;
  const reads: Map<string, number>[] = [];
  let gate: Promise<void> | undefined;
  const source: MissedCommitsSource = {
    readEpoch: async () => options.epochAtWatch ?? Math.max(0, ...commits.map((c) => c.epoch)),
    missed: async (q, onChunk) => {
      if (gate !== undefined) await gate;
      if (failures-- > 0) throw new Error('database down');
      const snapshot = Math.max(0, ...commits.map((c) => c.epoch));
      const hubs = [...new Set(commits.map((c) => c.hub))].filter((h) => h !== q.me).sort();
      const bounds = q.bounds(hubs);
      reads.push(bounds);
      const rows = commits
        .filter((c) => bounds.has(c.hub) && c.epoch > (bounds.get(c.hub) as number) && q.events.includes(c.event))
        .sort((x, y) => x.epoch - y.epoch)
        .map((c) => ({ epoch: c.epoch, hub: c.hub, event: c.event, ts: c.epoch, value: c.value }));
      await onChunk(rows);
      return { snapshot };
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

function setup(log: ReturnType<typeof fakeLog>, extra: { maxHeldPoints?: number; now?: () => number; giveUpMs?: number } = {}) {
  const got: string[] = [];
  const lost: string[][] = [];
  const fill = new GapFill({
    me: 'me',
    source: log.source,
    keepMs: KEEP_MS,
    deliver: (b: LiveBatch) => {
      for (const [event, points] of b.byEvent) got.push(...points.map(([, v]) => `${event}${v}`));
    },
    lost: (events) => void lost.push(events),
    onError: () => undefined,
    retryMs: 1,
    ...extra,
  });
  return { fill, got, lost };
}

const batch = (hub: string, epoch: number, value: number, event = 'x') => ({ hub, event, epoch, points: [[epoch, value]] as [number, number][] });
const turn = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('GapFill', () => {
  it('reads back the commits of other hubs after what it has had of each, once, and drops late and held duplicates', async () => {
    const commits: Commit[] = [{ epoch: 1, hub: 'a', event: 'x', value: 1 }];
    const log = fakeLog(commits);
    const { fill, got } = setup(log);
    fill.watch('x', Promise.resolve());
    await turn();
    commits.push({ epoch: 2, hub: 'a', event: 'x', value: 2 });
    fill.receive(batch('a', 2, 2));
    // NATS away: A commits 3 and 4, B commits 5; our own commit 6 is never read back.
    commits.push({ epoch: 3, hub: 'a', event: 'x', value: 3 }, { epoch: 4, hub: 'a', event: 'x', value: 4 });
    commits.push({ epoch: 5, hub: 'b', event: 'x', value: 5 }, { epoch: 6, hub: 'me', event: 'x', value: 6 });
    const open = log.hold();
    fill.fill();
    // Arriving while the fill reads: 4 (in its snapshot) and, later, 7 (after it).
    fill.receive(batch('a', 4, 4));
    commits.push({ epoch: 7, hub: 'a', event: 'x', value: 7 });
    open();
    await fill.idle();
    // 7 was in the fill's snapshot; its bus message comes after the fill: not again.
    fill.receive(batch('a', 7, 7));
    expect(got).toEqual(['x2', 'x3', 'x4', 'x5', 'x7']);
    expect(fill.stats.droppedDuplicates).toBe(2);
    fill.receive(batch('a', 8, 8));
    expect(got.at(-1)).toBe('x8');
  });

  it('a commit of two events whose second message was lost: the fill reads that one', async () => {
    const commits: Commit[] = [];
    const log = fakeLog(commits);
    const { fill, got } = setup(log);
    fill.watch('x', Promise.resolve());
    fill.watch('y', Promise.resolve());
    await turn();
    commits.push({ epoch: 1, hub: 'a', event: 'x', value: 10 }, { epoch: 1, hub: 'a', event: 'y', value: 11 });
    fill.receive(batch('a', 1, 10, 'x'));
    // The link dies before y@1 arrives.
    fill.fill();
    await fill.idle();
    expect(got).toEqual(['x10', 'y11']);
  });

  it('a fill starting between the two messages of one commit hands the second on once', async () => {
    const commits: Commit[] = [{ epoch: 1, hub: 'a', event: 'x', value: 10 }, { epoch: 1, hub: 'a', event: 'y', value: 11 }];
    const log = fakeLog(commits, { epochAtWatch: 0 });
    const { fill, got } = setup(log);
    fill.watch('x', Promise.resolve());
    fill.watch('y', Promise.resolve());
    await turn();
    fill.receive(batch('a', 1, 10, 'x'));
    const open = log.hold();
    fill.fill(); // another hub's resync, say
    fill.receive(batch('a', 1, 11, 'y')); // held
    open();
    await fill.idle();
    expect(got).toEqual(['x10', 'y11']);
  });

  it('an event watched while a fill runs gets its held batch', async () => {
    const commits: Commit[] = [];
    const log = fakeLog(commits);
    const { fill, got } = setup(log);
    fill.watch('x', Promise.resolve());
    await turn();
    const open = log.hold();
    fill.fill();
    fill.watch('z', Promise.resolve());
    commits.push({ epoch: 2, hub: 'a', event: 'z', value: 2 });
    fill.receive(batch('a', 2, 2, 'z'));
    open();
    await fill.idle();
    expect(got).toEqual(['z2']);
  });

  it('a quiet hub costs nothing: its bound is its mark, not the watch', async () => {
    const commits: Commit[] = [{ epoch: 100, hub: 'q', event: 'x', value: 1 }];
    const log = fakeLog(commits, { epochAtWatch: 100 });
    const { fill, lost } = setup(log);
    fill.watch('x', Promise.resolve());
    await turn();
    commits.push({ epoch: 200, hub: 'a', event: 'y', value: 2 });
    fill.mark('q', 200);
    fill.fill();
    await fill.idle();
    expect(log.reads[0]?.get('q')).toBe(200);
    expect(lost).toEqual([]);
  });

  it('a hub cut off from its start, never heard: its commits are read, also across unrelated fills, once', async () => {
    const commits: Commit[] = [];
    const log = fakeLog(commits);
    const { fill, got } = setup(log);
    fill.watch('x', Promise.resolve());
    await turn();
    commits.push({ epoch: 1, hub: 'c', event: 'x', value: 1 }, { epoch: 2, hub: 'c', event: 'x', value: 2 });
    fill.fill(); // someone else's resync
    await fill.idle();
    commits.push({ epoch: 3, hub: 'c', event: 'x', value: 3 });
    fill.fill(); // c's own resync, once it is back
    await fill.idle();
    fill.receive(batch('c', 3, 3)); // and its late live message
    expect(got).toEqual(['x1', 'x2', 'x3']);
  });

  it('retries a failed read, holding what arrives meanwhile', async () => {
    const commits: Commit[] = [];
    const log = fakeLog(commits, { failures: 2 });
    const { fill, got } = setup(log);
    fill.watch('x', Promise.resolve());
    await turn();
    commits.push({ epoch: 1, hub: 'a', event: 'x', value: 1 });
    fill.fill();
    commits.push({ epoch: 2, hub: 'a', event: 'x', value: 2 });
    fill.receive(batch('a', 2, 2));
    await fill.idle();
    expect(got).toEqual(['x1', 'x2']);
  });

  it('gives up after failing for its bound: the events are reported lost and live batches flow again', async () => {
    const log = fakeLog([], { failures: 1_000_000 });
    const { fill, got, lost } = setup(log, { giveUpMs: 50 });
    fill.watch('x', Promise.resolve());
    await turn();
    fill.fill();
    fill.receive(batch('a', 1, 1));
    await fill.idle();
    expect(lost).toEqual([['x']]);
    fill.receive(batch('a', 2, 2));
    expect(got).toEqual(['x2']);
  });

  it('a bound older than the commit log keeps: the events are reported lost', async () => {
    let now = 1_000_000;
    const log = fakeLog([{ epoch: 50, hub: 'a', event: 'x', value: 1 }], { epochAtWatch: 0 });
    const { fill, lost } = setup(log, { now: () => now });
    fill.watch('x', Promise.resolve());
    await turn();
    now += KEEP_MS;
    fill.fill();
    await fill.idle();
    expect(lost).toEqual([['x']]);
  });

  it('past its bound it drops what it holds and reads it back with the next fill', async () => {
    const commits: Commit[] = [];
    const log = fakeLog(commits);
    const { fill, got } = setup(log, { maxHeldPoints: 2 });
    fill.watch('x', Promise.resolve());
    await turn();
    const open = log.hold();
    fill.fill();
    for (let e = 1; e <= 5; e++) {
      commits.push({ epoch: e, hub: 'a', event: 'x', value: e });
      fill.receive(batch('a', e, e));
    }
    open();
    await fill.idle();
    expect(got).toEqual(['x1', 'x2', 'x3', 'x4', 'x5']);
  });
});
