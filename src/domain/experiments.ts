/** `experiments.stop`; creating one while another runs is refused by the database (409). @see PROTOCOL.md §5 */
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/database.js';
import { mapDbError } from '../db/db-errors.js';
import type { Repository } from '../db/repository.js';
import { experiments } from '../db/schema.js';
import { conflict } from '../errors.js';
import type { OpDef } from '../protocol/ops.js';
import { toRecord } from '../protocol/records.js';
import { ByPublicId } from '../protocol/schemas.js';
import { audit } from '../automation/audit.js';
import { drizzleRunner } from '../automation/drizzle-runner.js';
import { enqueueDeliveries } from '../automation/outbox.js';
import { OPERATOR } from './access.js';

export function experimentOps(db: Db, repo: Repository<typeof experiments>, changed: () => Promise<void>): OpDef[] {
  return [
    {
      name: 'experiments.stop',
      allow: OPERATOR,
      schema: ByPublicId,
      handle: async (data, { principal }) => {
        const row = await repo.getOr404(data.public_id);
        let stopped;
        try {
          // Stopped: its log entry and its deliveries commit with it (PROTOCOL.md §11, §12).
          stopped = await db.transaction(async (tx) => {
            const [done] = await tx
              .update(experiments)
              .set({ stopped_on: sql`now()` })
              .where(and(eq(experiments.public_id, row.public_id), isNull(experiments.stopped_on)))
              .returning();
            if (done === undefined) return undefined;
            await audit.experimentStopped(tx, done, principal.user.public_id);
            await enqueueDeliveries(drizzleRunner(tx), 'experiment.stopped', { experiment_public_id: done.public_id, name: done.name });
            return done;
          });
        } catch (err) {
          throw mapDbError(err, 'Experiment');
        }
        if (stopped === undefined) throw conflict('Experiment is already stopped');
        await changed();
        return toRecord('experiments', stopped);
      },
    },
  ];
}
