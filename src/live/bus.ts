/**
 * The bus between the hub processes that commit points and the ones whose sockets subscribe.
 * In one process it is a direct hand-off; a NATS implementation (several hubs, NATS_URL) takes
 * the same two calls, so nothing else changes when it arrives.
 */
import type { LiveBatch } from './fanout.js';

export interface LiveBus {
  /** Announces a committed batch to every subscriber of the bus (this process included). */
  publish(batch: LiveBatch): void;
  /** Registers the receiver of every published batch. */
  onBatch(handler: (batch: LiveBatch) => void): void;
  /** A socket of this process now watches `event` (the first): a bus across processes subscribes to it. */
  watch?(event: string): void;
  /** No socket of this process watches `event` any more. */
  unwatch?(event: string): void;
  /** Resolves once every watch() so far is in effect (a `since` replay's snapshot must come after). */
  settled?(): Promise<void>;
  close(): Promise<void>;
}

/** The in-process bus: publish calls the handlers synchronously. */
export class LocalBus implements LiveBus {
  private readonly handlers: ((batch: LiveBatch) => void)[] = [];

  publish(batch: LiveBatch): void {
    for (const handler of this.handlers) handler(batch);
  }

  onBatch(handler: (batch: LiveBatch) => void): void {
    this.handlers.push(handler);
  }

  async close(): Promise<void> {
    this.handlers.length = 0;
  }
}
