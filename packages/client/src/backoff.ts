/** Exponential back-off with jitter, for reconnects and for `busy` retries. */

export interface BackoffOptions {
  /** First delay (ms), default 250. */
  initialDelayMs?: number;
  /** Largest delay (ms), default 10 000. */
  maxDelayMs?: number;
  /** Growth per attempt, default 2. */
  factor?: number;
  /** Part of the delay drawn at random (0..1), default 0.5: many clients never retry in step. */
  jitter?: number;
}

/** The delay before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialDelayMs ?? 250;
  const max = options.maxDelayMs ?? 10_000;
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const base = Math.min(max, initial * factor ** Math.min(attempt, 30));
  return Math.round(base * (1 - jitter * Math.random()));
}
