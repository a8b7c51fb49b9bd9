/**
 * The `seq` high-water marks: the last committed `seq` per API token (or per user for login
 * tokens), cached in memory, loaded from `ingest_sequences` on first use, and written in the
 * same transaction as the rows they cover, so a retry after any crash is stored exactly once.
 * @see PROTOCOL.md §6
 */
import { UUID_TEXT } from './batch-sql.js';
import type { SeqOwner } from './queue.js';

/** The part of a database client this needs (the COPY writer's transaction client). */
export interface SqlClient {
  query<R extends Record<string, unknown>>(sql: string, params: unknown[]): Promise<{ rows: R[] }>;
}

export class SequenceStore {
  /** key → last committed seq; -1 when the owner has none yet. */
  private readonly committed = new Map<string, number>();

  /** Loads the marks of owners not yet known. */
  async ensure(client: SqlClient, owners: Iterable<SeqOwner>): Promise<void> {
    const tokens: string[] = [];
    const usersIds: string[] = [];
    const missing = new Map<string, SeqOwner>();
    for (const owner of owners) {
      if (this.committed.has(owner.key) || missing.has(owner.key)) continue;
      missing.set(owner.key, owner);
      if (owner.apiTokenPublicId !== null) tokens.push(owner.apiTokenPublicId);
      else if (owner.userPublicId !== null) usersIds.push(owner.userPublicId);
    }
    if (missing.size === 0) return;
    const { rows } = await client.query<{ token: string | null; user: string | null; last_seq: string }>(
      `SELECT api_token_public_id AS token, user_public_id AS "user", last_seq FROM ingest_sequences
        WHERE api_token_public_id = ANY($1::uuid[]) OR user_public_id = ANY($2::uuid[])`,
      [tokens, usersIds],
    );
    for (const key of missing.keys()) this.committed.set(key, -1);
    for (const row of rows) this.committed.set(keyOf(row.token, row.user), Number(row.last_seq));
  }

  /** The last committed seq of a known owner (-1: none). */
  last(key: string): number {
    return this.committed.get(key) ?? -1;
  }

  /** Writes the new marks inside the caller's transaction (never lowering one). */
  async write(client: SqlClient, marks: ReadonlyMap<string, { owner: SeqOwner; seq: number }>): Promise<void> {
    const text = marksSql(marks);
    if (text !== '') await client.query(text, []);
  }

  /** Records marks once their transaction committed. */
  committedMarks(marks: ReadonlyMap<string, { seq: number }>): void {
    for (const [key, { seq }] of marks) if (seq > this.last(key)) this.committed.set(key, seq);
  }

  /** Forgets owners, so their marks are read again (after a commit whose outcome is unknown). */
  forget(keys: Iterable<string>): void {
    for (const key of keys) this.committed.delete(key);
  }
}

/** The cache key of an owner. */
export function keyOf(apiTokenPublicId: string | null, userPublicId: string | null): string {
  return apiTokenPublicId !== null ? `token:${apiTokenPublicId}` : `user:${userPublicId ?? ''}`;
}


/**
 * The upserts of some marks as one statement text with its values inlined (one per kind of
 * owner: each has its own unique column to conflict on), so the COPY writer can send it with the
 * epoch and the COMMIT in one round trip. Only UUIDs and integers are inlined, both checked; ''
 * when there is nothing to write.
 */
export function marksSql(marks: ReadonlyMap<string, { owner: SeqOwner; seq: number }>): string {
  const byColumn = { api_token_public_id: { ids: [] as string[], seqs: [] as number[] }, user_public_id: { ids: [] as string[], seqs: [] as number[] } };
  for (const { owner, seq } of marks.values()) {
    const target = owner.apiTokenPublicId !== null ? byColumn.api_token_public_id : byColumn.user_public_id;
    const id = owner.apiTokenPublicId ?? owner.userPublicId ?? '';
    if (!UUID_TEXT.test(id) || !Number.isSafeInteger(seq)) throw new Error(`not a seq mark: ${JSON.stringify({ id, seq })}`);
    target.ids.push(id);
    target.seqs.push(seq);
  }
  const statements: string[] = [];
  for (const [column, { ids, seqs }] of Object.entries(byColumn)) {
    if (ids.length === 0) continue;
    statements.push(
      `INSERT INTO ingest_sequences (${column}, last_seq)
       SELECT * FROM unnest('{${ids.join(',')}}'::uuid[], '{${seqs.join(',')}}'::bigint[])
       ON CONFLICT (${column}) DO UPDATE
         SET last_seq = GREATEST(ingest_sequences.last_seq, EXCLUDED.last_seq), updated_on = now()`,
    );
  }
  return statements.join(';\n');
}
