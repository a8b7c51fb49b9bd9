/**
 * A chart's data per event: buckets of `bucketMs` aligned to the Unix epoch, as
 * `datapoints.query` returns them, kept with min, max, sum and count so that live points fold
 * into the same buckets. The chart's size stays about one bucket per two pixels whatever the
 * rate of the stream, and the band keeps every spike visible. Pure (no DOM).
 * @see PROTOCOL.md §7 (history: buckets aligned to the epoch, only non-empty ones)
 */

/** `[bucket_ts, min, max, avg, count]` as the hub sends them. */
export type WireBucket = [number, number, number, number, number];

export class Buckets {
  readonly ts: number[] = [];
  readonly min: number[] = [];
  readonly max: number[] = [];
  readonly sum: number[] = [];
  readonly count: number[] = [];
  /** The newest live point folded in (tests and the title read it). */
  last: { ts: number; value: number } | undefined;

  constructor(readonly bucketMs: number) {}

  /** Replaces the contents with history from the hub (ascending, non-empty buckets). */
  load(buckets: readonly WireBucket[]): void {
    this.clear();
    for (const [ts, min, max, avg, count] of buckets) {
      this.ts.push(ts);
      this.min.push(min);
      this.max.push(max);
      this.sum.push(avg * count);
      this.count.push(count);
    }
  }

  /** Folds one point into its bucket (usually the newest; an older one is placed in order). */
  add(ts: number, value: number): void {
    const b = Math.floor(ts / this.bucketMs) * this.bucketMs;
    if (this.last === undefined || ts >= this.last.ts) this.last = { ts, value };
    let i = this.ts.length - 1;
    if (i < 0 || (this.ts[i] as number) < b) {
      this.push(this.ts.length, b, value);
      return;
    }
    while (i >= 0 && (this.ts[i] as number) > b) i--;
    if (i >= 0 && this.ts[i] === b) {
      this.min[i] = Math.min(this.min[i] as number, value);
      this.max[i] = Math.max(this.max[i] as number, value);
      (this.sum[i] as number) += value;
      (this.count[i] as number)++;
    } else {
      this.push(i + 1, b, value);
    }
  }

  /** Drops the buckets that end before `fromMs`. */
  trim(fromMs: number): void {
    let n = 0;
    while (n < this.ts.length && (this.ts[n] as number) + this.bucketMs <= fromMs) n++;
    if (n === 0) return;
    for (const col of [this.ts, this.min, this.max, this.sum, this.count]) col.splice(0, n);
  }

  clear(): void {
    for (const col of [this.ts, this.min, this.max, this.sum, this.count]) col.length = 0;
  }

  /**
   * Where this series has a gap: the start of the bucket after each pair of neighbours much
   * further apart than usual (a device offline). The line breaks there instead of bridging it.
   */
  gaps(): number[] {
    const n = this.ts.length;
    if (n < 3) return [];
    const deltas: number[] = [];
    for (let i = 1; i < n; i++) deltas.push((this.ts[i] as number) - (this.ts[i - 1] as number));
    const typical = [...deltas].sort((a, b) => a - b)[Math.floor(deltas.length / 2)] as number;
    const limit = Math.max(3 * this.bucketMs, 5 * typical);
    const out: number[] = [];
    deltas.forEach((d, i) => {
      if (d > limit) out.push((this.ts[i] as number) + this.bucketMs);
    });
    return out;
  }

  private push(at: number, b: number, value: number): void {
    this.ts.splice(at, 0, b);
    this.min.splice(at, 0, value);
    this.max.splice(at, 0, value);
    this.sum.splice(at, 0, value);
    this.count.splice(at, 0, 1);
  }
}

/** A column of uPlot: `null` breaks the line, `undefined` is only alignment (bridged). */
export type Column = (number | null | undefined)[];

/**
 * The table uPlot draws: x in seconds, then avg, min and max for each series, on the union of
 * their buckets (series share `bucketMs`, so the buckets line up).
 */
export function align(series: readonly Buckets[]): [number[], ...Column[]] {
  const gaps = series.map((s) => new Set(s.gaps()));
  const xs = new Set<number>();
  for (const [i, s] of series.entries()) {
    for (const t of s.ts) xs.add(t);
    for (const g of gaps[i] as Set<number>) xs.add(g);
  }
  const x = [...xs].sort((a, b) => a - b);
  const index = new Map(x.map((t, i) => [t, i]));
  const out: [number[], ...Column[]] = [x.map((t) => t / 1000)];
  for (const [i, s] of series.entries()) {
    const avg: Column = new Array<undefined>(x.length);
    const min: Column = new Array<undefined>(x.length);
    const max: Column = new Array<undefined>(x.length);
    for (const g of gaps[i] as Set<number>) {
      const at = index.get(g) as number;
      avg[at] = min[at] = max[at] = null;
    }
    for (let k = 0; k < s.ts.length; k++) {
      const at = index.get(s.ts[k] as number) as number;
      avg[at] = (s.sum[k] as number) / (s.count[k] as number);
      min[at] = s.min[k] as number;
      max[at] = s.max[k] as number;
    }
    out.push(avg, min, max);
  }
  return out;
}

/** A bucket width for `windowMs` over `pixels`: about one bucket per two pixels, whole seconds. */
export function bucketFor(windowMs: number, pixels: number): number {
  return Math.max(1000, Math.ceil(windowMs / Math.max(50, pixels / 2) / 1000) * 1000);
}
