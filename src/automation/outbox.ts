/**
 * The webhook outbox, write side: a cause (a rule trigger, an experiment started, a device
 * going online…) adds its deliveries in its own transaction, so no committed cause loses them
 * and no rolled-back cause sends any. The sender (sender.ts) is woken by the NOTIFY that
 * commits with them. Adding a cause is one call of {@link enqueueDeliveries}.
 * @see PROTOCOL.md §12
 */

/** Every event type a webhook may subscribe to. */
export const WEBHOOK_EVENT_TYPES = [
  'sensor.threshold_exceeded',
  'sensor.reading',
  'experiment.started',
  'experiment.stopped',
  'firmware.status_changed',
  'device.online',
  'device.offline',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The NOTIFY channel that wakes the senders of every hub. */
export const OUTBOX_CHANNEL = 'hub_outbox';

/** Runs one statement in the cause's transaction (a pg client, or a drizzle transaction adapted). */
export type SqlRunner = (text: string, params: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

/**
 * One pending delivery of `type` for every enabled webhook whose `events` holds it; `payload` is
 * the body the receiver gets (PROTOCOL.md §12: `type`, `time` and the cause's fields).
 */
const ENQUEUE_SQL = `
  WITH queued AS (
    INSERT INTO webhook_deliveries (webhook_public_id, event_type, payload, status, next_attempt_at)
    SELECT w.public_id, $1::text, $2::jsonb, 'pending', now()
      FROM webhooks w
     WHERE w.enabled AND $1::text = ANY (w.events)
    RETURNING 1)
  SELECT count(*)::int AS queued,
         CASE WHEN count(*) > 0 THEN pg_notify('${OUTBOX_CHANNEL}', '') END AS woke
    FROM queued`;

/** The body of a delivery: its type, the time of the cause, and the cause's fields. */
export function deliveryBody(type: string, fields: Record<string, unknown>, at: Date = new Date()): Record<string, unknown> {
  return { type, time: at.toISOString(), ...fields };
}

/** Queues the deliveries of one cause, in the cause's transaction; returns how many. */
export async function enqueueDeliveries(run: SqlRunner, type: WebhookEventType, fields: Record<string, unknown>, at?: Date): Promise<number> {
  const { rows } = await run(ENQUEUE_SQL, [type, JSON.stringify(deliveryBody(type, fields, at))]);
  return Number(rows[0]?.queued ?? 0);
}

