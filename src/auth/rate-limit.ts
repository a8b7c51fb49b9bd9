/** A fixed-window counter per key with a bounded number of keys, for login attempts. */

export interface RateLimitOptions {
  /** Failures allowed per key within the window. */
  limit: number;
  windowMs: number;
  /** Most keys tracked; the oldest windows are dropped first. */
  maxKeys?: number;
}

interface Window {
  startedAt: number;
  count: number;
}

export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly maxKeys: number;

  constructor(
    private readonly options: RateLimitOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  /** Milliseconds until `key` may try again, or 0 when it may now. */
  retryAfter(key: string): number {
    const w = this.current(key);
    if (w === undefined || w.count < this.options.limit) return 0;
    return w.startedAt + this.options.windowMs - this.now();
  }

  /** Counts one failure for `key`. */
  fail(key: string): void {
    const w = this.current(key);
    if (w !== undefined) {
      w.count++;
      return;
    }
    if (this.windows.size >= this.maxKeys) {
      const oldest = this.windows.keys().next().value;
      if (oldest !== undefined) this.windows.delete(oldest);
    }
    this.windows.set(key, { startedAt: this.now(), count: 1 });
  }

  /** Takes back one counted attempt of `key` (it succeeded). */
  undo(key: string): void {
    const w = this.current(key);
    if (w === undefined) return;
    w.count--;
    if (w.count <= 0) this.windows.delete(key);
  }

  /** Forgets `key` (after a success). */
  reset(key: string): void {
    this.windows.delete(key);
  }

  private current(key: string): Window | undefined {
    const w = this.windows.get(key);
    if (w === undefined) return undefined;
    if (this.now() - w.startedAt >= this.options.windowMs) {
      this.windows.delete(key);
      return undefined;
    }
    return w;
  }
}

/**
 * At most `running` holders per key at once, and at most `waiting` more queued behind them;
 * `acquire` resolves false at once when the queue is full too. Keys without holders are
 * forgotten, so memory follows what is in use.
 */
export class KeyedSemaphore {
  private readonly slots = new Map<string, { running: number; queue: (() => void)[] }>();

  constructor(
    private readonly running: number,
    private readonly waiting: number,
  ) {}

  acquire(key: string): Promise<boolean> {
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = { running: 0, queue: [] };
      this.slots.set(key, slot);
    }
    if (slot.running < this.running) {
      slot.running++;
      return Promise.resolve(true);
    }
    if (slot.queue.length >= this.waiting) return Promise.resolve(false);
    const queue = slot.queue;
    return new Promise((resolve) => queue.push(() => resolve(true)));
  }

  release(key: string): void {
    const slot = this.slots.get(key);
    if (slot === undefined) return;
    const next = slot.queue.shift();
    // The place passes straight to the next in line.
    if (next !== undefined) next();
    else if (--slot.running === 0) this.slots.delete(key);
  }
}
