/**
 * `webhooks.test` (a `ping` delivery, sent even to a disabled webhook) and
 * `webhook_deliveries.retry` (a dead letter back to pending), both admin only.
 * @see PROTOCOL.md §12
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/database.js';
import { mapDbError } from '../db/db-errors.js';
import type { Repository } from '../db/repository.js';
import { webhookDeliveries, type webhooks } from '../db/schema.js';
import { conflict } from '../errors.js';
import type { OpDef } from '../protocol/ops.js';
import { toRecord } from '../protocol/records.js';
import { ByPublicId } from '../protocol/schemas.js';
import { ADMIN } from '../domain/access.js';
import { OUTBOX_CHANNEL, deliveryBody } from './outbox.js';

export interface WebhookOpsRepos {
  readonly webhooks: Repository<typeof webhooks>;
  readonly webhook_deliveries: Repository<typeof webhookDeliveries>;
}

/** The type of the delivery `webhooks.test` queues; no webhook subscribes to it, it is sent on request. */
export const PING = 'ping';

export function webhookOps(db: Db, repos: WebhookOpsRepos): OpDef[] {
  /** Runs `write` and the NOTIFY that wakes every hub's sender, committed together. */
  const withWake = <R>(write: (tx: Parameters<Parameters<Db['transaction']>[0]>[0]) => Promise<R>): Promise<R> =>
    db
      .transaction(async (tx) => {
        const result = await write(tx);
        await tx.execute(sql`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`);
        return result;
      })
      .catch((err: unknown) => {
        throw mapDbError(err, 'WebhookDelivery');
      });

  return [
    {
      name: 'webhooks.test',
      allow: ADMIN,
      schema: ByPublicId,
      handle: async (data) => {
        const webhook = await repos.webhooks.getOr404(data.public_id);
        const [row] = await withWake((tx) =>
          tx
            .insert(webhookDeliveries)
            .values({
              webhook_public_id: webhook.public_id,
              event_type: PING,
              payload: deliveryBody(PING, { webhook_public_id: webhook.public_id }),
              status: 'pending',
              next_attempt_at: sql`now()`,
            })
            .returning(),
        );
        return toRecord('webhook_deliveries', row as Record<string, unknown>);
      },
    },
    {
      name: 'webhook_deliveries.retry',
      allow: ADMIN,
      schema: ByPublicId,
      handle: async (data) => {
        const delivery = await repos.webhook_deliveries.getOr404(data.public_id);
        const [row] = await withWake((tx) =>
          tx
            .update(webhookDeliveries)
            .set({ status: 'pending', attempts: 0, next_attempt_at: sql`now()` })
            .where(and(eq(webhookDeliveries.public_id, delivery.public_id), eq(webhookDeliveries.status, 'dead_letter')))
            .returning(),
        );
        if (row === undefined) throw conflict(`Only a dead_letter delivery can be retried; this one is ${delivery.status}`);
        return toRecord('webhook_deliveries', row);
      },
    },
  ];
}
