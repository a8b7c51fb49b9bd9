/**
 * A device that streams numbered points through the hub with a window of unacknowledged
 * messages and records exactly what was acknowledged, for tests that check nothing acked is lost.
 */
import type { HubClient } from '../../src/client/hub-client.js';

export interface StreamResult {
  /** Values of every acknowledged point. */
  readonly acked: number[];
  /** Messages refused as busy (their points were not stored). */
  readonly busy: number;
  /** Errors other than busy (a closed socket included). */
  readonly errors: string[];
}

export interface StreamOptions {
  event: string;
  /** Values are `base + n`, unique per point across streams. */
  base: number;
  pointsPerMessage: number;
  window: number;
  /** Stop after this many ms. */
  durationMs: number;
  /** Send `seq` (1, 2, …). */
  withSeq?: boolean;
  /** Called with each acknowledged message's values, as the acks arrive. */
  onAck?: (values: number[]) => void;
}

export async function streamPoints(client: HubClient, o: StreamOptions): Promise<StreamResult> {
  const acked: number[] = [];
  const errors: string[] = [];
  let busy = 0;
  let next = 0;
  let seq = 0;
  const deadline = Date.now() + o.durationMs;
  const lane = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const values = Array.from({ length: o.pointsPerMessage }, () => o.base + next++);
      const data: Record<string, unknown> = { points: values.map((value) => ({ event: o.event, value })) };
      if (o.withSeq === true) data.seq = ++seq;
      try {
        await client.request('ingest', data, 20_000);
        acked.push(...values);
        o.onAck?.(values);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'busy') {
          busy++;
          await new Promise((r) => setTimeout(r, Math.min((err as { retryAfterMs?: number }).retryAfterMs ?? 100, 200)));
        } else {
          errors.push(code ?? (err as Error).message);
          if (!/closed|no reply/.test((err as Error).message)) continue;
          return;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: o.window }, lane));
  return { acked, busy, errors };
}
