/** Runs the outbox's (and other hand-written) SQL in a drizzle database or transaction. */
import { sql, type SQL } from 'drizzle-orm';
import type { SqlRunner } from './outbox.js';

/** A {@link SqlRunner} over a drizzle database or transaction: `$n` placeholders become parameters. */
export function drizzleRunner(db: { execute(query: SQL): Promise<{ rows: Record<string, unknown>[] }> }): SqlRunner {
  return (text, params) => {
    const pieces = text.split(/\$(\d+)/);
    const parts: SQL[] = pieces.map((piece, i) => (i % 2 === 0 ? sql.raw(piece) : sql`${params[Number(piece) - 1]}`));
    return db.execute(sql.join(parts, sql.raw('')));
  };
}
