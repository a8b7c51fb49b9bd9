/**
 * Who a verified SSO sign-in is: the user linked to the provider's issuer and subject, else the
 * local user with the same verified email (linked now, when allowed), else a new user (when
 * allowed). The role follows the provider's mapped claim at every sign-in.
 * @see PROTOCOL.md §17
 */
import { randomBytes } from 'node:crypto';
import { and, eq, isNull, ne, sql } from 'drizzle-orm';
import type { OidcConfig, OidcRole } from '../../config.js';
import type { Db } from '../../db/database.js';
import { users } from '../../db/schema.js';
import { ADMIN_LOCK_KEY } from '../../domain/resources.js';
import type { UserRow } from '../principal.js';
import type { VerifiedClaims } from './provider-client.js';

/** A sign-in the hub's policy refuses (403), with a slug for logs and metrics. */
export class SsoRefused extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'SsoRefused';
  }
}

export interface ResolvedUser {
  readonly user: UserRow;
  readonly how: 'matched' | 'linked' | 'created';
  /** The role before this sign-in changed it (undefined: unchanged). */
  readonly previousRole?: OidcRole;
  /** The claim asked to demote the last admin: the role was kept. */
  readonly keptLastAdmin?: boolean;
}

/** Stored for users created by SSO: no argon2 hash, so no password ever matches it. */
const NO_PASSWORD = '!sso';
const ROLE_RANK: Record<OidcRole, number> = { viewer: 0, operator: 1, admin: 2 };

export class SsoUsers {
  constructor(
    private readonly db: Db,
    private readonly config: OidcConfig,
    /** The first admin, a local account that SSO never links (a way in when the provider is down). */
    private readonly localOnlyUsername: string,
  ) {}

  /** The role the claims map to; undefined when the claim is absent (or no claim is configured). */
  mappedRole(claims: VerifiedClaims): OidcRole | undefined {
    if (this.config.roleClaim === null) return undefined;
    let value: unknown = claims;
    for (const part of this.config.roleClaim.split('.')) {
      value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    }
    if (value === undefined || value === null) return undefined;
    const values = Array.isArray(value) ? value : [value];
    let role: OidcRole = 'viewer';
    for (const v of values) {
      const mapped = typeof v === 'string' ? this.config.roleMap.get(v) : undefined;
      if (mapped !== undefined && ROLE_RANK[mapped] > ROLE_RANK[role]) role = mapped;
    }
    return role;
  }

  /** The user of a verified sign-in; {@link SsoRefused} when the policy says no. */
  async resolve(claims: VerifiedClaims): Promise<ResolvedUser> {
    const email = typeof claims.email === 'string' && claims.email.length <= 255 ? claims.email : null;
    // Some providers send the flag as a string.
    const verified = claims.email_verified === true || claims.email_verified === 'true';
    if (this.config.allowedDomains.length > 0) {
      const domain = email?.slice(email.lastIndexOf('@') + 1).toLowerCase();
      if (email !== null && !verified) throw new SsoRefused('email_not_verified', 'The provider has not verified this account\'s email');
      if (domain === undefined || !this.config.allowedDomains.includes(domain)) {
        throw new SsoRefused('domain_not_allowed', 'This account\'s email domain may not sign in to this hub');
      }
    }
    const role = this.mappedRole(claims);
    const [known] = await this.db
      .select()
      .from(users)
      .where(and(eq(users.oidc_issuer, claims.iss), eq(users.oidc_subject, claims.sub)))
      .limit(1);
    if (known !== undefined) return this.applyRole(known, role, 'matched');

    if (this.config.linkByEmail && email !== null) {
      const [local] = await this.db.select().from(users).where(sql`lower(${users.email}) = lower(${email})`).limit(1);
      if (local !== undefined) {
        if (!verified) throw new SsoRefused('email_not_verified', 'A hub account has this email, but the provider has not verified it: not linked');
        if (local.username === this.localOnlyUsername) throw new SsoRefused('local_only', 'The first admin is a local account and is never linked');
        if (local.oidc_issuer !== null) throw new SsoRefused('linked_elsewhere', 'The hub account with this email is linked to another identity');
        const [linked] = await this.db
          .update(users)
          .set({ oidc_issuer: claims.iss, oidc_subject: claims.sub })
          .where(and(eq(users.public_id, local.public_id), isNull(users.oidc_issuer)))
          .returning();
        if (linked === undefined) throw new SsoRefused('linked_elsewhere', 'The hub account with this email is linked to another identity');
        return this.applyRole(linked, role, 'linked');
      }
    }
    if (!this.config.autoCreate) throw new SsoRefused('unknown_user', 'No hub account for this identity; ask an admin to create one');
    return { user: await this.create(claims, verified ? email : null, role ?? 'viewer'), how: 'created' };
  }

  private async create(claims: VerifiedClaims, email: string | null, role: OidcRole): Promise<UserRow> {
    // An email another user has (linking off, or unverified) is not copied: it is unique.
    const [taken] = email === null ? [] : await this.db.select({ id: users.id }).from(users).where(sql`lower(${users.email}) = lower(${email})`).limit(1);
    const base = usernameFrom(claims);
    for (let attempt = 0; attempt < 6; attempt++) {
      const username = attempt === 0 ? base : `${base.slice(0, 40)}-${randomBytes(3).toString('hex')}`;
      const [row] = await this.db
        .insert(users)
        .values({
          username,
          email: taken === undefined ? email : null,
          role,
          password_hash: NO_PASSWORD,
          password_login: false,
          oidc_issuer: claims.iss,
          oidc_subject: claims.sub,
        })
        .onConflictDoNothing()
        .returning();
      if (row !== undefined) return row;
      // Someone else created this identity at the same moment (two tabs): that user it is.
      const [same] = await this.db
        .select()
        .from(users)
        .where(and(eq(users.oidc_issuer, claims.iss), eq(users.oidc_subject, claims.sub)))
        .limit(1);
      if (same !== undefined) return same;
    }
    throw new Error('no free username for a new SSO user');
  }

  /**
   * Sets the mapped role, unless that would demote the last admin (checked under the lock the
   * users resource takes for the same question, so two demotions cannot both pass).
   */
  private async applyRole(user: UserRow, role: OidcRole | undefined, how: ResolvedUser['how']): Promise<ResolvedUser> {
    if (role === undefined || role === user.role) return { user, how };
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${ADMIN_LOCK_KEY})`);
      if (user.role === 'admin') {
        const [other] = await tx
          .select({ id: users.id })
          .from(users)
          .where(and(eq(users.role, 'admin'), ne(users.public_id, user.public_id)))
          .limit(1);
        if (other === undefined) return { user, how, keptLastAdmin: true };
      }
      const [updated] = await tx.update(users).set({ role }).where(eq(users.public_id, user.public_id)).returning();
      return updated === undefined ? { user, how } : { user: updated, how, previousRole: user.role };
    });
  }
}

/** A username from the claims: preferred_username, else the email's local part, else the subject. */
function usernameFrom(claims: VerifiedClaims): string {
  const candidates = [claims.preferred_username, typeof claims.email === 'string' ? claims.email.split('@')[0] : undefined, claims.name, `sso-${claims.sub}`];
  for (const candidate of candidates) {
    if (typeof candidate !== 'string') continue;
    const clean = candidate.replace(/[^\w.@-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50);
    if (clean.length >= 2) return clean;
  }
  return `sso-${randomBytes(4).toString('hex')}`;
}
