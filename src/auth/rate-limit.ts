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
