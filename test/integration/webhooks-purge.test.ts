/**
 * The outbox does not keep every delivery forever (PROTOCOL.md §12): delivered rows go after
 * their keep, dead letters after a longer one, pending rows never.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { OutboxStore } from '../../src/db/outbox-store.js';
import { startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
let h: TestHub;
let admin: HubClient;

beforeAll(async () => {
  h = await startTestHub();
  admin = await h.connect(h.adminToken);
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

const DAY = 86_400_000;

describe('purging finished webhook deliveries', () => {
  it('removes delivered rows past their keep and dead letters past theirs, never pending ones', async () => {
    const hook = await admin.request<Rec>('webhooks.create', { url: 'https://receiver.example.com/hook', events: ['experiment.started'], enabled: false });
    const insert = async (status: string, ageDays: number): Promise<number> => {
      const { rows } = await h.database.pool.query<{ id: number }>(
        `INSERT INTO webhook_deliveries (webhook_public_id, event_type, payload, status, attempts, created_on, delivered_on)
         VALUES ($1, 'alert', '{}'::jsonb, $2::delivery_status, 1, now() - $3::float8 * interval '1 day',
                 CASE WHEN $2 = 'delivered' THEN now() - $3::float8 * interval '1 day' END)
         RETURNING id`,
        [hook.public_id, status, ageDays],
      );
      return rows[0]!.id;
    };
    const oldDelivered = await insert('delivered', 8);
    const newDelivered = await insert('delivered', 1);
    const oldDead = await insert('dead_letter', 31);
    const newDead = await insert('dead_letter', 8);
    const oldPending = await insert('pending', 90);
    const store = new OutboxStore(h.database.pool);
    expect(await store.purge(7 * DAY, 30 * DAY)).toBe(2);
    const { rows } = await h.database.pool.query<{ id: number }>('SELECT id FROM webhook_deliveries WHERE webhook_public_id = $1 ORDER BY id', [
      hook.public_id,
    ]);
    expect(rows.map((r) => r.id)).toEqual([newDelivered, newDead, oldPending].sort((a, b) => a - b));
    expect(rows.map((r) => r.id)).not.toContain(oldDelivered);
    expect(rows.map((r) => r.id)).not.toContain(oldDead);
    // Many at once go in batches, all of them.
    await h.database.pool.query(
      `INSERT INTO webhook_deliveries (webhook_public_id, event_type, payload, status, attempts, created_on, delivered_on)
       SELECT $1, 'alert', '{}'::jsonb, 'delivered', 1, now() - interval '10 days', now() - interval '10 days' FROM generate_series(1, 12000)`,
      [hook.public_id],
    );
    expect(await store.purge(7 * DAY, 30 * DAY)).toBe(12_000);
  });
});
