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
