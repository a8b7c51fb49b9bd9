/** Who is calling: the user behind a token and the role the token acts with. @see PROTOCOL.md §2 */
import type { InferSelectModel } from 'drizzle-orm';
import type { users } from '../db/schema.js';

export type UserRow = InferSelectModel<typeof users>;
export type Role = UserRow['role'];
/** A user's role, or `device` for an API token bound to a plugin instance. */
export type EffectiveRole = Role | 'device';

export interface Principal {
  readonly role: EffectiveRole;
  /** The user (for API tokens, the token's owner). */
  readonly user: UserRow;
  readonly kind: 'login' | 'api_token';
  /** Identifies the presented token for revocation: the JWT's `jti`, or the API token's public_id. */
  readonly tokenId: string;
  /** Epoch milliseconds, or null for an API token without expiry. */
  readonly expiresAt: number | null;
  /** Device tokens only. */
  readonly pluginInstancePublicId: string | null;
}
