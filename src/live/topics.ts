/**
 * Topic subscriptions (`alerts`, `devices`, `firmware`, `log_entries`): every push goes to every
 * subscriber of its topic, in order, never conflated away. A subscriber too slow for them (its
 * socket holds more than the buffer limit unsent) is closed with 1013 and reconnects.
 * @see PROTOCOL.md §14
 */
import { CLOSE } from '../close-codes.js';
import { encodeMessage, type Encoding } from '../protocol/codec.js';
import type { SubscriberTransport } from './fanout.js';

export const TOPICS = ['alerts', 'devices', 'firmware', 'log_entries'] as const;
export type Topic = (typeof TOPICS)[number];


/** One connection's topic subscriptions. */
export class TopicSubscriber {
  readonly topics = new Set<Topic>();
  closed = false;
  constructor(public transport: SubscriberTransport) {}
}

export class TopicFanout {
  private readonly byTopic = new Map<Topic, Set<TopicSubscriber>>();
  /** Pushes sent, and subscribers closed for being too slow (for metrics). */
  readonly stats = { pushes: 0, slowClosed: 0 };

  constructor(private readonly bufferBytes: number) {}

  add(sub: TopicSubscriber, topics: readonly Topic[]): void {
    for (const topic of topics) {
      sub.topics.add(topic);
      let set = this.byTopic.get(topic);
      if (set === undefined) {
        set = new Set();
        this.byTopic.set(topic, set);
      }
      set.add(sub);
    }
  }

  remove(sub: TopicSubscriber, topics: readonly Topic[]): void {
    for (const topic of topics) {
      sub.topics.delete(topic);
      this.byTopic.get(topic)?.delete(sub);
    }
  }

  close(sub: TopicSubscriber): void {
    sub.closed = true;
    this.remove(sub, [...sub.topics]);
  }

  /** Has this topic any subscriber (so a producer may skip building its push)? */
  watched(topic: Topic): boolean {
    return (this.byTopic.get(topic)?.size ?? 0) > 0;
  }

  /** Sends `{op, data}` to every subscriber of `topic`, encoded once per encoding. */
  publish(topic: Topic, op: string, data: unknown): void {
    const subs = this.byTopic.get(topic);
    if (subs === undefined || subs.size === 0) return;
    const frames: Partial<Record<Encoding, string | Uint8Array>> = {};
    for (const sub of [...subs]) {
      if (sub.closed) continue;
      const { transport } = sub;
      // Never conflated, never dropped: one that cannot keep up goes, and resumes by reconnecting.
      if (transport.bufferedAmount() > this.bufferBytes) {
        this.stats.slowClosed++;
        this.close(sub);
        transport.close?.(CLOSE.tryAgainLater, 'too slow for topic pushes; reconnect');
        continue;
      }
      const frame = (frames[transport.encoding] ??= encodeMessage({ op, data }, transport.encoding));
      if (transport.send(frame)) this.stats.pushes++;
    }
  }
}
