/**
 * A plugin instance's `status` follows its device sockets: `connected` while at least one is
 * open, back to `demo` or `inactive` when the last closes. @see PROTOCOL.md §10
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { pluginInstances } from '../db/schema.js';

export class PluginPresence {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  connected(instancePublicId: string): void {
    const n = (this.open.get(instancePublicId) ?? 0) + 1;
    this.open.set(instancePublicId, n);
    if (n === 1) this.write(instancePublicId, sql`'connected'`);
  }

  disconnected(instancePublicId: string): void {
    const n = (this.open.get(instancePublicId) ?? 1) - 1;
    if (n > 0) {
      this.open.set(instancePublicId, n);
      return;
    }
    this.open.delete(instancePublicId);
    this.write(instancePublicId, sql`CASE WHEN ${pluginInstances.demo_mode} THEN 'demo'::instance_status ELSE 'inactive'::instance_status END`);
  }

  private write(instancePublicId: string, status: ReturnType<typeof sql>): void {
    this.db
      .update(pluginInstances)
      .set({ status: status as never })
      .where(and(eq(pluginInstances.public_id, instancePublicId)))
      .catch((err: unknown) => this.log.warn({ err, instance: instancePublicId }, 'could not record plugin instance status'));
  }
}
