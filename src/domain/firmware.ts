/**
 * Firmware roll-out states: `apply` starts a roll-out of an uploaded update, `rollback` withdraws
 * it, and a device's `check` finds the newest update being rolled out.
 * @see PROTOCOL.md §5
 */
import { Type } from '@sinclair/typebox';
import { and, desc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { Db } from '../db/database.js';
import type { Repository } from '../db/repository.js';
import { firmwareUpdates } from '../db/schema.js';
import { conflict } from '../errors.js';
import type { OpDef } from '../protocol/ops.js';
import { toRecord } from '../protocol/records.js';
import { ByPublicId } from '../protocol/schemas.js';
import { ADMIN, ANYONE } from './access.js';

type Status = (typeof firmwareUpdates.$inferSelect)['status'];

/** Which states each op may leave from, and where it goes. */
const TRANSITIONS: Record<'apply' | 'rollback', { from: readonly Status[]; to: Status }> = {
  apply: { from: ['pending', 'failed', 'rolled_back'], to: 'applying' },
  rollback: { from: ['applying', 'completed', 'failed'], to: 'rolled_back' },
};

/** Updates a device may install. */
const ROLLING_OUT: Status[] = ['applying', 'completed'];

export function firmwareOps(db: Db, repo: Repository<typeof firmwareUpdates>): OpDef[] {
  const transition = (op: 'apply' | 'rollback'): OpDef => ({
    name: `firmware_updates.${op}`,
    allow: ADMIN,
    schema: ByPublicId,
    handle: async (data) => {
      const row = await repo.getOr404(data.public_id);
      const { from, to } = TRANSITIONS[op];
      if (op === 'apply' && row.file_path === null) throw conflict('Firmware update has no file; upload it first');
      // The status check is in the WHERE clause, so two racing calls cannot both succeed.
      const [updated] = await db
        .update(firmwareUpdates)
        .set({ status: to })
        .where(and(eq(firmwareUpdates.public_id, row.public_id), inArray(firmwareUpdates.status, [...from])))
        .returning();
      if (updated === undefined) throw conflict(`Cannot ${op} a firmware update in status '${row.status}'`);
      return toRecord('firmware_updates', updated);
    },
  });

  return [
    transition('apply'),
    transition('rollback'),
    {
      name: 'firmware_updates.check',
      allow: ANYONE,
      schema: Type.Object({}, { additionalProperties: false }),
      handle: async () => {
        const [newest] = await db
          .select()
          .from(firmwareUpdates)
          .where(and(inArray(firmwareUpdates.status, ROLLING_OUT), isNotNull(firmwareUpdates.file_path)))
          .orderBy(desc(sql`string_to_array(${firmwareUpdates.version}, '.')::int[]`))
          .limit(1);
        return newest === undefined ? null : toRecord('firmware_updates', newest);
      },
    },
  ];
}
