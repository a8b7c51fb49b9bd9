/**
 * Who is calling: the user behind a token and the role the token acts with. @see PROTOCOL.md §2
 *
 * A principal is kept for the life of every socket, so it is a small value — what access checks,
 * revocation and logs need — never the user's row: `auth.me` reads the current row when asked.
 */
import type { InferSelectModel } from 'drizzle-orm';
import type { users } from '../db/schema.js';

export type UserRow = InferSelectModel<typeof users>;
export type Role = UserRow['role'];
/** A user's role, or `device` for an API token bound to a plugin instance. */
export type EffectiveRole = Role | 'device';

/** The few fields of the user that a principal keeps, as they were when the token was checked. */
export interface PrincipalUser {
  readonly public_id: string;
  readonly username: string;
  /** Login tokens carry it; a password change moves it on and revokes them. */
  readonly token_generation: number;
}

export interface Principal {
  readonly role: EffectiveRole;
  /** The user (for API tokens, the token's owner). */
  readonly user: PrincipalUser;
  readonly kind: 'login' | 'api_token';
  /** Identifies the presented token for revocation: the JWT's `jti`, or the API token's public_id. */
  readonly tokenId: string;
  /** Epoch milliseconds, or null for an API token without expiry. */
  readonly expiresAt: number | null;
  /** Device tokens only. */
  readonly pluginInstancePublicId: string | null;
}

/** The part of a user row a principal keeps (a copy: the row itself is not held). */
export function principalUser(row: Pick<UserRow, 'public_id' | 'username' | 'token_generation'>): PrincipalUser {
  return { public_id: row.public_id, username: row.username, token_generation: row.token_generation };
}
