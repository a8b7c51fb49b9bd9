/** The fan-out core without sockets: batching, encode-once, conflation, replay hand-over. */
import { describe, expect, it } from 'vitest';
import { Fanout, Subscriber, type SubscriberTransport } from '../../src/live/fanout.js';

class FakeSocket implements SubscriberTransport {
  readonly frames: (string | Uint8Array)[] = [];
  buffered = 0;
  constructor(readonly encoding: 'json' | 'msgpack' = 'json') {}
  send(frame: string | Uint8Array): boolean {
    this.frames.push(frame);
    return true;
  }
  bufferedAmount(): number {
    return this.buffered;
  }
  messages(): { event: string; points: [number, number][]; conflated?: boolean }[] {
    return this.frames.map((f) => (JSON.parse(f as string) as { data: { event: string; points: [number, number][]; conflated?: boolean } }).data);
  }
}

const tick = () => new Promise((r) => setImmediate(r));
const batch = (epoch: number, entries: [string, [number, number][]][]) => ({ epoch, byEvent: new Map(entries) });

describe('Fanout', () => {
  it('sends one push per event per turn, the same encoded frame to every subscriber of an encoding', async () => {
    const fanout = new Fanout(1024);
    const [s1, s2] = [new FakeSocket(), new FakeSocket()];
    const [a, b] = [new Subscriber(s1), new Subscriber(s2)];
    fanout.add(a, ['e1']);
    fanout.add(b, ['e1', 'e2']);
    fanout.publish(batch(1, [['e1', [[1, 10]]], ['e2', [[1, 20]]]]));
    fanout.publish(batch(2, [['e1', [[2, 11]]]]));
    await tick();
    expect(s1.messages()).toEqual([{ event: 'e1', points: [[1, 10], [2, 11]] }]);
    expect(s2.messages()).toEqual([
      { event: 'e1', points: [[1, 10], [2, 11]] },
      { event: 'e2', points: [[1, 20]] },
    ]);
    expect(s1.frames[0]).toBe(s2.frames[0]);
  });

  it('spaces flushes by the push interval: a lone commit leaves at once, close ones share a push', async () => {
    const fanout = new Fanout(1024, 40);
    const socket = new FakeSocket();
    fanout.add(new Subscriber(socket), ['e1']);
    fanout.publish(batch(1, [['e1', [[1, 10]]]]));
    await tick();
    // After a quiet spell: at the end of the turn, no wait.
    expect(socket.messages()).toEqual([{ event: 'e1', points: [[1, 10]] }]);
    fanout.publish(batch(2, [['e1', [[2, 11]]]]));
    await new Promise((r) => setTimeout(r, 5));
    fanout.publish(batch(3, [['e1', [[3, 12]]]]));
    await tick();
    // Within the interval of the last flush: held, then both in one push.
    expect(socket.frames).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(socket.messages()).toEqual([
      { event: 'e1', points: [[1, 10]] },
      { event: 'e1', points: [[2, 11], [3, 12]] },
    ]);
    expect(fanout.stats.flushes).toBe(2);
  });

  it('keeps only the latest point for a subscriber over its buffer, and sends it conflated on drain', async () => {
    const fanout = new Fanout(1024);
    const slow = new FakeSocket();
    const sub = new Subscriber(slow);
    fanout.add(sub, ['e']);
    slow.buffered = 4096;
    for (let i = 0; i < 100; i++) {
      fanout.publish(batch(i, [['e', [[i, i]]]]));
      await tick();
    }
    expect(slow.frames).toEqual([]);
    expect(sub.conflated.size).toBe(1);
    slow.buffered = 0;
    fanout.sendConflated(sub);
    expect(slow.messages()).toEqual([{ event: 'e', points: [[99, 99]], conflated: true }]);
    expect(fanout.stats.conflatedPoints).toBe(100);
  });

  it('holds live points during a replay and then sends only those committed after its snapshot', async () => {
    const fanout = new Fanout(1024);
    const socket = new FakeSocket();
    const sub = new Subscriber(socket);
    sub.replaying = new Map([['e', { points: [], overflow: null }]]);
    fanout.add(sub, ['e']);
    fanout.publish(batch(5, [['e', [[50, 1]]]])); // in the replay's snapshot (epoch 5)
    fanout.publish(batch(6, [['e', [[60, 2]]]])); // after it
    await tick();
    expect(socket.frames).toEqual([]);
    fanout.endReplay(sub, 5);
    expect(socket.messages()).toEqual([{ event: 'e', points: [[60, 2]] }]);
    fanout.publish(batch(7, [['e', [[70, 3]]]]));
    await tick();
    expect(socket.messages().at(-1)).toEqual({ event: 'e', points: [[70, 3]] });
  });

  it('regression: a batch published during a replay that ends before the next flush goes out once', async () => {
    // The SDK's restart test saw 5 points twice: held by the replay and sent by its end, then
    // sent again by the flush of the same turn.
    const fanout = new Fanout(1024);
    const socket = new FakeSocket();
    const sub = new Subscriber(socket);
    sub.replaying = new Map([['e', { points: [], overflow: null }]]);
    fanout.add(sub, ['e']);
    fanout.publish(batch(6, [['e', [[60, 2]]]])); // held, and pending for this turn's flush
    fanout.endReplay(sub, 5); // the replay ends before that flush
    await tick();
    fanout.publish(batch(7, [['e', [[70, 3]]]]));
    await tick();
    expect(socket.messages().flatMap((m) => m.points)).toEqual([
      [60, 2],
      [70, 3],
    ]);
  });

  it('forgets a closed subscriber', async () => {
    const fanout = new Fanout(1024);
    const socket = new FakeSocket();
    const sub = new Subscriber(socket);
    fanout.add(sub, ['e']);
    fanout.close(sub);
    fanout.publish(batch(1, [['e', [[1, 1]]]]));
    await tick();
    expect(socket.frames).toEqual([]);
    expect(fanout.subscriptions).toBe(0);
  });
});
