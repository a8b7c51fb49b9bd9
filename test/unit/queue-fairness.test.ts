/** The ingest queue's fairness: each sender's share and messages in flight, turns between senders, exact accounting. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { IngestQueue, senderLimits, type PendingIngest } from '../../src/ingest/queue.js';

const message = (sender: string, count: number): PendingIngest => ({
  points: { seq: null, count, events: [], eventBytes: [], values: new Float64Array(count), ts: new Float64Array(count) },
  owner: null,
  sender,
  pluginInstancePublicId: null,
  resolve: () => undefined,
  reject: () => undefined,
});

describe('IngestQueue fairness', () => {
  it('takes a batch of the senders outside a running batch alone, keeping the others\' turns', async () => {
    const q = new IngestQueue(100_000, { senderBatchPoints: 1000 });
    for (let i = 0; i < 3; i++) q.tryOffer(message('flood', 1000));
    const running = new Map([['flood', 1]]);
    expect(q.hasWaitingOutside(running)).toBe(false);
    const arrival = q.nextArrival();
    q.tryOffer(message('calm', 10));
    await arrival; // a new message wakes a writer waiting for one
    expect(q.hasWaitingOutside(running)).toBe(true);
    const beside = q.take(50_000, running);
    expect(beside.map((m) => m.sender)).toEqual(['calm']);
    // The flood's turn was kept: it is next.
    expect(q.take(50_000).map((m) => [m.sender, m.points.count])).toEqual([['flood', 1000]]);
  });

  it('names the senders with large parts only when a sender with a small part waits beside them', () => {
    const q = new IngestQueue(100_000, { senderBatchPoints: 1000 });
    for (let i = 0; i < 3; i++) q.tryOffer(message('flood', 1000));
    expect(q.largeParts(50_000, 250)).toBeUndefined(); // alone: nothing to keep apart
    q.tryOffer(message('bulk', 300));
    expect(q.largeParts(50_000, 250)).toBeUndefined(); // large parts only
    q.tryOffer(message('calm', 10));
    expect([...(q.largeParts(50_000, 250)?.keys() ?? [])].sort()).toEqual(['bulk', 'flood']);
    expect(q.take(50_000, q.largeParts(50_000, 250)).map((m) => m.sender)).toEqual(['calm']);
  });

  it("says what the next batch would hold: one sender's deep backlog counts only its part", () => {
    const q = new IngestQueue(100_000, { senderBatchPoints: 1000 });
    expect(q.nextBatchPoints(50_000)).toBe(0);
    // A flood: 40 messages of 1000 waiting, but a batch takes one of them.
    for (let i = 0; i < 40; i++) q.tryOffer(message('flood', 1000));
    expect(q.waiting).toBe(40_000);
    expect(q.nextBatchPoints(50_000)).toBe(1000);
    // Calm senders add their next message each.
    for (const s of ['a', 'b', 'c']) q.tryOffer(message(s, 10));
    expect(q.nextBatchPoints(50_000)).toBe(1030);
    // Eight senders with backlogs: a batch holds a part of each, so the writer pipelines.
    const many = new IngestQueue(100_000, { senderBatchPoints: 1000 });
    for (let d = 0; d < 8; d++) for (let i = 0; i < 4; i++) many.tryOffer(message(`d${d}`, 1000));
    expect(many.nextBatchPoints(50_000)).toBe(8000);
    // Asked only whether it reaches a bound, it stops counting there.
    expect(many.nextBatchPoints(50_000, 2000)).toBe(2000);
    // The estimate is what take() then takes.
    expect(many.take(50_000).reduce((n, m) => n + m.points.count, 0)).toBe(8000);
    expect(q.take(50_000).reduce((n, m) => n + m.points.count, 0)).toBe(1030);
  });

  it('refuses a sender beyond its share alone, while another sender is still accepted', () => {
    const q = new IngestQueue(1000, { senderPoints: 250, senderMessages: 100 });
    expect(q.tryOffer(message('a', 200))).toBe('accepted');
    expect(q.tryOffer(message('a', 60))).toBe('over_share');
    expect(q.tryOffer(message('a', 50))).toBe('accepted');
    expect(q.tryOffer(message('b', 250))).toBe('accepted');
    expect(q.heldBy('a')).toEqual({ points: 250, messages: 2 });
    expect(q.depth).toBe(500);
  });

  it('says full when the whole queue is, whoever asks', () => {
    const q = new IngestQueue(300, { senderPoints: 200 });
    for (const s of ['a', 'b']) expect(q.tryOffer(message(s, 150))).toBe('accepted');
    expect(q.tryOffer(message('c', 1))).toBe('full');
  });

  it('lets a message of any allowed size into an empty share', () => {
    const q = new IngestQueue(1000, { senderPoints: 10 });
    expect(q.tryOffer(message('a', 100))).toBe('accepted');
    expect(q.tryOffer(message('a', 1))).toBe('over_share');
  });

  it('bounds a sender’s messages in flight (too_many), counted until released', () => {
    const q = new IngestQueue(1000, { senderMessages: 2 });
    const [m1, m2] = [message('a', 1), message('a', 1)];
    expect(q.tryOffer(m1)).toBe('accepted');
    expect(q.tryOffer(m2)).toBe('accepted');
    expect(q.tryOffer(message('a', 1))).toBe('too_many');
    expect(q.tryOffer(message('b', 1))).toBe('accepted');
    const taken = q.take(1000);
    // Taken by the writer is still in flight.
    expect(q.tryOffer(message('a', 1))).toBe('too_many');
    q.release(taken.filter((m) => m === m1));
    expect(q.tryOffer(message('a', 1))).toBe('accepted');
  });

  it('takes from each sender in turn, each at most an equal part of a batch: a small message does not wait behind a backlog', () => {
    const q = new IngestQueue(100_000);
    const flood = Array.from({ length: 50 }, () => message('flood', 1000));
    for (const m of flood) q.offer(m);
    const small = message('small', 10);
    q.offer(small);
    const batch = q.take(10_000);
    expect(batch).toContain(small);
    // Two senders waiting: the flood gets at most half of the batch.
    expect(batch.filter((m) => m.sender === 'flood').reduce((n, m) => n + m.points.count, 0)).toBeLessThanOrEqual(5000);
    // Alone, a sender gets whole batches; its order is kept.
    const next = q.take(10_000);
    expect(next).toEqual(flood.slice(5, 15));
  });

  it('bounds any sender’s part of a batch by senderBatchPoints (at least one message), so batches stay short', () => {
    const q = new IngestQueue(100_000, { senderBatchPoints: 2000 });
    for (let i = 0; i < 10; i++) q.offer(message('flood', 1000));
    expect(q.take(50_000)).toHaveLength(2);
    q.offer(message('big', 5000));
    expect(q.take(50_000).map((m) => m.points.count)).toEqual([1000, 1000, 5000]);
  });

  it('regression: every path out of the queue gives the share back exactly (commit, refusal, put back, duplicate)', () => {
    const q = new IngestQueue(1000, { senderPoints: 300, senderMessages: 10 });
    const ms = [message('a', 100), message('a', 100), message('a', 100)];
    for (const m of ms) expect(q.tryOffer(m)).toBe('accepted');
    const batch = q.take(150);
    // The database went away: the batch goes back in front, still held.
    q.putBack(batch);
    expect(q.heldBy('a')).toEqual({ points: 300, messages: 3 });
    expect(q.tryOffer(message('a', 1))).toBe('over_share');
    const again = q.take(1000);
    expect(again).toEqual(ms);
    // One refused alone (the writer's refuse), the rest committed or acknowledged as duplicates (finish).
    q.release([again[1] as PendingIngest]);
    q.release([again[0] as PendingIngest, again[2] as PendingIngest]);
    expect(q.heldBy('a')).toEqual({ points: 0, messages: 0 });
    expect([q.depth, q.waiting, q.length, q.senders]).toEqual([0, 0, 0, 0]);
    expect(q.tryOffer(message('a', 300))).toBe('accepted');
  });
});

describe('sender limits from the configuration', () => {
  it('defaults to a quarter of the queue and 64 messages', () => {
    const config = loadConfig({});
    expect([config.deviceQueueShare, config.ingestInFlightPerToken]).toEqual([0.25, 64]);
    expect(senderLimits(config)).toEqual({ senderPoints: 50_000, senderMessages: 64, senderBatchPoints: 1000 });
  });

  it('reads HUB_DEVICE_QUEUE_SHARE and HUB_INGEST_IN_FLIGHT_PER_TOKEN, never below one full message', () => {
    const config = loadConfig({ HUB_DEVICE_QUEUE_SHARE: '0.5', HUB_INGEST_IN_FLIGHT_PER_TOKEN: '8', HUB_QUEUE_CAPACITY: '1000', HUB_MAX_BATCH_POINTS: '100' });
    expect(senderLimits(config)).toMatchObject({ senderPoints: 500, senderMessages: 8 });
    expect(senderLimits({ ...config, deviceQueueShare: 0.01 }).senderPoints).toBe(100);
  });

  it.each(['0', '1.5', '-0.1', 'half', '25%'])('refuses HUB_DEVICE_QUEUE_SHARE=%s', (value) => {
    expect(() => loadConfig({ HUB_DEVICE_QUEUE_SHARE: value })).toThrow(/HUB_DEVICE_QUEUE_SHARE must be a number greater than 0 and at most 1/);
  });
});

describe('refusalFor (the check made before a message is validated)', () => {
  it('says what tryOffer would say, and takes nothing', () => {
    const q = new IngestQueue(1000, { senderPoints: 300, senderMessages: 2 });
    expect(q.refusalFor('a', 100)).toBeNull();
    expect(q.tryOffer(message('a', 250))).toBe('accepted');
    expect(q.refusalFor('a', 100)).toBe('over_share');
    expect(q.refusalFor('b', 100)).toBeNull();
    expect(q.refusalFor('b', 800)).toBe('full');
    expect(q.tryOffer(message('a', 10))).toBe('accepted');
    expect(q.refusalFor('a', 1)).toBe('too_many');
    expect(q.heldBy('a')).toEqual({ points: 260, messages: 2 });
  });
});
