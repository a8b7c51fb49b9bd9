/**
 * Firmware roll-out: `apply` starts a roll-out of an uploaded update, `rollback` withdraws it, a
 * device's `check` finds the newest update being rolled out, and its `report`s record how far it
 * got (the steps' table is in devices/firmware-progress.ts). Update records carry counts of the
 * devices at each stage, computed by the database.
 * @see PROTOCOL.md §5, §13
 */
import { Type } from '@sinclair/typebox';
import { and, desc, eq, inArray, isNotNull, sql, type SQL } from 'drizzle-orm';
import { drizzleRunner } from '../automation/drizzle-runner.js';
import { enqueueDeliveries } from '../automation/outbox.js';
import type { Db } from '../db/database.js';
import { mapDbError } from '../db/db-errors.js';
import { isUuid, Repository, type NewRow, type Page, type PageQuery, type Row } from '../db/repository.js';
import { firmwareUpdates, logEntries, pluginInstances } from '../db/schema.js';
import { IN_PROGRESS, REPORT_STATUSES, refusedStep, type ReportStatus } from '../devices/firmware-progress.js';
import { conflict, notFound } from '../errors.js';
import type { OpDef } from '../protocol/ops.js';
import { toRecord } from '../protocol/records.js';
import { ByPublicId } from '../protocol/schemas.js';
import { ADMIN, ANYONE, DEVICE } from './access.js';

type Status = (typeof firmwareUpdates.$inferSelect)['status'];
type UpdateRow = Row<typeof firmwareUpdates>;

/** The NOTIFY channel of firmware reports: every hub pushes them to its `firmware` topic. */
export const FIRMWARE_CHANNEL = 'hub_firmware';

/** Which states each op may leave from, and where it goes. */
const TRANSITIONS: Record<'apply' | 'rollback', { from: readonly Status[]; to: Status }> = {
  apply: { from: ['pending', 'failed', 'rolled_back'], to: 'applying' },
  rollback: { from: ['applying', 'completed', 'failed'], to: 'rolled_back' },
};

/** Updates a device may install (and report on). */
const ROLLING_OUT: Status[] = ['applying', 'completed'];

/** The read-only counts of an update record. */
interface DeviceCounts {
  devices_in_progress: number;
  devices_completed: number;
  devices_failed: number;
}

/** The counts of many updates in one query: the database groups the instances by update and step. */
const COUNTS_SQL = (ids: string[]): SQL => sql`
  SELECT firmware_update_public_id AS id,
         count(*) FILTER (WHERE firmware_status IN (${sql.join(
           IN_PROGRESS.map((s) => sql`${s}`),
           sql`, `,
         )}))::int AS devices_in_progress,
         count(*) FILTER (WHERE firmware_status = 'completed')::int AS devices_completed,
         count(*) FILTER (WHERE firmware_status = 'failed')::int AS devices_failed
    FROM plugin_instances
   WHERE firmware_update_public_id = ANY (${`{${ids.join(',')}}`}::uuid[])
   GROUP BY firmware_update_public_id`;

/**
 * The firmware updates' repository: every row it returns carries `devices_in_progress`,
 * `devices_completed` and `devices_failed`, counted by PostgreSQL in one grouped query per page.
 */
export class FirmwareUpdatesRepository extends Repository<typeof firmwareUpdates> {
  constructor(
    private readonly database: Db,
    entity: string,
    options: { hidden?: readonly string[] } = {},
  ) {
    super(database, firmwareUpdates, entity, options);
  }

  /** Adds the counts to `rows` (in place) and returns them. */
  async withCounts<R extends { public_id: string }>(rows: R[]): Promise<(R & DeviceCounts)[]> {
    const out = rows as (R & DeviceCounts)[];
    for (const row of out) Object.assign(row, { devices_in_progress: 0, devices_completed: 0, devices_failed: 0 });
    if (rows.length === 0) return out;
    let counted: { rows: Record<string, unknown>[] };
    try {
      counted = await this.database.execute(COUNTS_SQL(rows.map((r) => r.public_id)));
    } catch (err) {
      throw mapDbError(err, this.entity);
    }
    const byId = new Map(counted.rows.map((c) => [String(c.id), c]));
    for (const row of out) {
      const c = byId.get(row.public_id);
      if (c !== undefined) {
        row.devices_in_progress = Number(c.devices_in_progress);
        row.devices_completed = Number(c.devices_completed);
        row.devices_failed = Number(c.devices_failed);
      }
    }
    return out;
  }

  override async paginate(query: PageQuery, scope?: SQL): Promise<Page<UpdateRow>> {
    const page = await super.paginate(query, scope);
    await this.withCounts(page.items);
    return page;
  }

  override async getOr404(publicId: unknown, scope?: SQL): Promise<UpdateRow> {
    const [row] = await this.withCounts([await super.getOr404(publicId, scope)]);
    return row as UpdateRow;
  }

  override async create(values: NewRow<typeof firmwareUpdates>): Promise<UpdateRow> {
    const [row] = await this.withCounts([await super.create(values)]);
    return row as UpdateRow;
  }

  override async update(publicId: unknown, values: Partial<NewRow<typeof firmwareUpdates>>, scope?: SQL): Promise<UpdateRow> {
    const [row] = await this.withCounts([await super.update(publicId, values, scope)]);
    return row as UpdateRow;
  }
}

/** `firmware_updates.report`'s data. */
const ReportSchema = Type.Object(
  {
    public_id: Type.String({ maxLength: 64 }),
    status: Type.Union(REPORT_STATUSES.map((s) => Type.Literal(s))),
    error: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);

export function firmwareOps(db: Db, repo: FirmwareUpdatesRepository): OpDef[] {
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
      const [counted] = await repo.withCounts([updated]);
      return toRecord('firmware_updates', counted as UpdateRow);
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
        if (newest === undefined) return null;
        const [counted] = await repo.withCounts([newest]);
        return toRecord('firmware_updates', counted as UpdateRow);
      },
    },
    {
      name: 'firmware_updates.report',
      allow: DEVICE,
      schema: ReportSchema,
      handle: async (data, { principal }) => {
        const instance = principal.pluginInstancePublicId;
        if (instance === null) throw new Error('a device principal without its plugin instance');
        const { public_id: updateId, status, error } = data as { public_id: string; status: ReportStatus; error?: string };
        if (!isUuid(updateId)) throw notFound('FirmwareUpdate', updateId);
        return report(db, instance, updateId.toLowerCase(), status, error);
      },
    },
  ];
}

/**
 * One report, in one transaction: the update's row, then the instance's, locked in that order
 * (as a delete of the update takes them), so concurrent reports serialize and an update cannot
 * be withdrawn halfway. Its effects commit with it: the instance's fields, the update's own
 * `completed`, a log entry, the deliveries and the NOTIFY that every hub turns into a push.
 */
async function report(db: Db, instanceId: string, updateId: string, status: ReportStatus, error: string | undefined) {
  try {
    return await db.transaction(async (tx) => {
      const [update] = await tx
        .select({ public_id: firmwareUpdates.public_id, version: firmwareUpdates.version, status: firmwareUpdates.status })
        .from(firmwareUpdates)
        .where(eq(firmwareUpdates.public_id, updateId))
        .for('no key update');
      if (update === undefined) throw notFound('FirmwareUpdate', updateId);
      const [instance] = await tx.select().from(pluginInstances).where(eq(pluginInstances.public_id, instanceId)).for('update');
      if (instance === undefined) throw notFound('PluginInstance', instanceId);
      if (!ROLLING_OUT.includes(update.status)) {
        throw conflict(`Firmware update ${update.version} is not being rolled out (status '${update.status}')`);
      }
      let currentRollingOut = false;
      if (instance.firmware_update_public_id !== null && instance.firmware_update_public_id !== update.public_id) {
        const [current] = await tx
          .select({ status: firmwareUpdates.status })
          .from(firmwareUpdates)
          .where(eq(firmwareUpdates.public_id, instance.firmware_update_public_id));
        currentRollingOut = current !== undefined && ROLLING_OUT.includes(current.status);
      }
      const refused = refusedStep(
        { updatePublicId: instance.firmware_update_public_id, status: instance.firmware_status, updateRollingOut: currentRollingOut },
        update.public_id,
        status,
      );
      if (refused !== null) throw conflict(refused);

      const [updated] = await tx
        .update(pluginInstances)
        .set({
          firmware_update_public_id: update.public_id,
          firmware_status: status,
          ...(status === 'completed' ? { firmware_version: update.version } : {}),
        })
        .where(eq(pluginInstances.id, instance.id))
        .returning();
      // The first device to complete it completes the roll-out's own status.
      if (status === 'completed') {
        await tx
          .update(firmwareUpdates)
          .set({ status: 'completed' })
          .where(and(eq(firmwareUpdates.public_id, update.public_id), eq(firmwareUpdates.status, 'applying')));
      }
      const detail = error === undefined ? '' : `: ${error.replace(/[\r\n]+/g, ' ').slice(0, 500)}`;
      await tx.insert(logEntries).values({
        content: `Device "${instance.instance_name.replace(/[\r\n]+/g, ' ').slice(0, 200)}" firmware ${update.version}: ${status}${detail}`,
        logging_type: 'info',
        status_type: 'unread',
      });
      const fields = { firmware_update_public_id: update.public_id, version: update.version, plugin_instance_public_id: instance.public_id, status };
      const withError = error === undefined ? fields : { ...fields, error };
      await enqueueDeliveries(drizzleRunner(tx), 'firmware.status_changed', withError);
      await tx.execute(sql`SELECT pg_notify(${FIRMWARE_CHANNEL}, ${JSON.stringify(withError)})`);
      return toRecord('plugin_instances', updated as Record<string, unknown>);
    });
  } catch (err) {
    throw mapDbError(err, 'FirmwareUpdate');
  }
}
