/**
 * The first admin, created when the users table is empty (PROTOCOL.md §9). A generated
 * password is printed once to the console (not the log), the only place it ever appears.
 */
import { count } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { users } from '../db/schema.js';
import { generateSecret } from '../secret-file.js';
import { hashPassword } from './passwords.js';

export interface FirstAdmin {
  username: string;
  /** Present only when generated now. */
  generatedPassword?: string;
}

/** Creates the first admin if no user exists; concurrent hubs create it once (unique username). */
export async function ensureFirstAdmin(
  db: Db,
  username: string,
  password: string | null,
  log: Logger,
): Promise<FirstAdmin | null> {
  const [existing] = await db.select({ n: count() }).from(users);
  if ((existing?.n ?? 0) > 0) return null;
  const generated = password === null ? generateSecret(18) : undefined;
  const inserted = await db
    .insert(users)
    .values({ username, role: 'admin', password_hash: await hashPassword(password ?? (generated as string)) })
    .onConflictDoNothing()
    .returning({ public_id: users.public_id });
  if (inserted.length === 0) return null;
  log.info({ username, generated: generated !== undefined }, 'first admin created');
  return generated === undefined ? { username } : { username, generatedPassword: generated };
}
