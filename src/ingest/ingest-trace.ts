/**
 * Where an ingest message's time goes inside the hub, stage by stage, so a high ack p99 can be
 * pinned on one stage (validation, the queue's wait, the COPY, the wait for the previous batch's
 * COMMIT, the in-order release of acks) instead of guessed. Each stage keeps its latest samples
 * in a fixed ring of floats: recording is a store, nothing is allocated per message, and the
 * percentiles are computed only when read (`/metrics`, which then starts a new window).
 */

/** The stages of one message, in order; `total` is frame decoded → ack released. */
export const INGEST_STAGES = [
  /** Validation and the queue's offer (submit). */
  'validate',
  /** Queued until taken into a batch (linger and waiting for a free connection included). */
  'queued',
  /** Batch taken → a connection checked out. */
  'begin',
  /** BEGIN and the COPY (and the rows' encoding). */
  'copy',
  /** COPY done → the previous batch has committed (ordered commits). */
  'order',
  /** Seq marks, rules, epoch and COMMIT. */
  'commit',
  /** Committed → the ack released, after the connection's earlier acks. */
  'ack',
  'total',
] as const;

export type IngestStage = (typeof INGEST_STAGES)[number];

/** Samples kept per stage: the last ones, enough for a 10 s bench at 1 000 messages/s. */
const RING = 16_384;

/** A percentile summary of one stage, in milliseconds. */
export interface StageSummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

class Ring {
  private readonly values = new Float32Array(RING);
  private n = 0;
  add(ms: number): void {
    this.values[this.n % RING] = ms;
    this.n++;
  }
  /** The percentiles of the window, then a new window. */
  take(): StageSummary {
    const count = Math.min(this.n, RING);
    const sorted = this.values.slice(0, count).sort();
    this.n = 0;
    const at = (p: number): number => (count === 0 ? 0 : (sorted[Math.min(count - 1, Math.max(0, Math.ceil(p * count) - 1))] as number));
    return { count, p50: at(0.5), p99: at(0.99), max: count === 0 ? 0 : (sorted[count - 1] as number) };
  }
}

export class IngestTrace {
  private readonly rings = new Map<IngestStage, Ring>(INGEST_STAGES.map((s) => [s, new Ring()]));

  record(stage: IngestStage, ms: number): void {
    (this.rings.get(stage) as Ring).add(ms);
  }

  /** Each stage's percentiles since the last call. */
  take(): Record<IngestStage, StageSummary> {
    const out = {} as Record<IngestStage, StageSummary>;
    for (const [stage, ring] of this.rings) out[stage] = ring.take();
    return out;
  }
}
