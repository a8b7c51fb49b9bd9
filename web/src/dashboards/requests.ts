/**
 * Requests of the dashboards, through the session's socket. The hub lets one caller have at most
 * a few requests running at once (over all its sockets, 429 beyond): a dashboard opening a dozen
 * charts at once must queue its history queries rather than have some of them refused.
 */
import { HubRequestError, type OpName, type OpRequests, type ReplyTo } from '@telemetry-hub/client';
import { errorText } from '../format.js';
import { call } from '../session.js';

/** Below the hub's default per-caller cap (8), leaving room for the other views' requests. */
const CONCURRENCY = 6;
const MAX_ATTEMPTS = 8;

let running = 0;
const waiting: (() => void)[] = [];

async function slot(): Promise<() => void> {
  // A released slot passes straight to the next waiter, so `running` never overshoots.
  if (running >= CONCURRENCY) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    const next = waiting.shift();
    if (next === undefined) running--;
    else next();
  };
}

/** A typed request, queued behind the others; `busy` and `rate_limited` are retried after their delay. */
export async function request<O extends OpName>(op: O, data: OpRequests[O]): Promise<ReplyTo<O>> {
  for (let attempt = 1; ; attempt++) {
    const release = await slot();
    try {
      return await call(op, data);
    } catch (err) {
      if (!(err instanceof HubRequestError) || !err.retryable || attempt >= MAX_ATTEMPTS) throw err;
      release();
      await new Promise((r) => setTimeout(r, err.retryAfterMs ?? 100 * attempt));
      continue;
    } finally {
      release();
    }
  }
}

/** What a failed request says to the user; a refusal reads as such, not as a crash. */
export function failureText(err: unknown): string {
  if (err instanceof HubRequestError && err.status === 403) return `Not allowed: ${err.message}`;
  return errorText(err);
}

type LatestItem = ReplyTo<'datapoints.latest'>['items'][number];
let batch: { events: Set<string>; reply: Promise<Map<string, LatestItem>> } | undefined;

/**
 * The latest point of `event`, asked together with the other widgets' asks of the same turn:
 * a dashboard of ten stat cards sends one `datapoints.latest`, not ten.
 */
export function latestOf(event: string): Promise<LatestItem | undefined> {
  if (batch === undefined) {
    const events = new Set<string>();
    const reply = Promise.resolve().then(async () => {
      batch = undefined;
      const r = await request('datapoints.latest', { events: [...events] });
      return new Map(r.items.map((item) => [item.event_public_id, item]));
    });
    batch = { events, reply };
  }
  batch.events.add(event);
  return batch.reply.then((items) => items.get(event));
}
