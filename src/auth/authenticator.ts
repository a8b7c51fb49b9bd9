/**
 * Login, token checks and revocation. A token is a login JWT or an API token; either resolves
 * to a {@link Principal} against the database, so a deleted user or token, a revoked JWT or a
 * changed role takes effect on the next check.
 * @see PROTOCOL.md §1, §2, §8
 */
import { and, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { apiTokens, blacklistTokens, users } from '../db/schema.js';
import { HubError, unauthorized } from '../errors.js';
import { hashApiToken } from './api-token-secret.js';
import { JwtCodec, looksLikeJwt } from './jwt.js';
import { verifyDecoy, verifyPassword } from './passwords.js';
import type { Principal, UserRow } from './principal.js';
import { RateLimiter } from './rate-limit.js';

export interface LoginResult {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  user: { public_id: string; username: string; role: string };
}

/** `last_used_at` is written at most this often per token, to keep auth off the write path. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** Failed logins allowed per minute per (address, username), and per address. */
export const LOGIN_LIMIT_PER_USER = 10;
export const LOGIN_LIMIT_PER_ADDRESS = 100;

export class Authenticator {
  private readonly perUser = new RateLimiter({ limit: LOGIN_LIMIT_PER_USER, windowMs: 60_000 });
  private readonly perAddress = new RateLimiter({ limit: LOGIN_LIMIT_PER_ADDRESS, windowMs: 60_000 });

  constructor(
    private readonly db: Db,
    private readonly jwt: JwtCodec,
    private readonly log: Logger,
  ) {}

  /** Checks a username and password; `401` when wrong, `429` after too many failures. */
  async login(username: string, password: string, address: string): Promise<LoginResult> {
    const userKey = `${address}|${username.toLowerCase()}`;
    const wait = Math.max(this.perUser.retryAfter(userKey), this.perAddress.retryAfter(address));
    if (wait > 0) throw new HubError('rate_limited', 'Too many login attempts; retry later', { retryAfterMs: wait });

    const [user] = await this.db.select().from(users).where(eq(users.username, username)).limit(1);
    const ok = user === undefined ? await verifyDecoy(password) : await verifyPassword(user.password_hash, password);
    if (!ok || user === undefined) {
      this.perUser.fail(userKey);
      this.perAddress.fail(address);
      throw unauthorized('Invalid username or password');
    }
    this.perUser.reset(userKey);
    const { token } = await this.jwt.sign(user.public_id, user.role);
    this.log.info({ user: user.public_id }, 'login');
    return {
      access_token: token,
      token_type: 'bearer',
      expires_in: this.jwt.ttlSeconds,
      user: { public_id: user.public_id, username: user.username, role: user.role },
    };
  }

  /** The principal of a bearer token; `401` for anything missing, malformed, expired or revoked. */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (token === undefined || token === '') throw unauthorized('A bearer token is required');
    if (token.length > 4096) throw unauthorized('Invalid token');
    return looksLikeJwt(token) ? this.fromJwt(token) : this.fromApiToken(token);
  }

  /** Revokes the presented token: a JWT goes on the blacklist, an API token is deleted. */
  async revoke(principal: Principal): Promise<void> {
    if (principal.kind === 'login') {
      await this.db
        .insert(blacklistTokens)
        .values({ jti: principal.tokenId, expires_at: new Date(principal.expiresAt ?? Date.now()) })
        .onConflictDoNothing();
    } else {
      await this.db.delete(apiTokens).where(eq(apiTokens.public_id, principal.tokenId));
    }
  }

  /** Which of these principals' tokens have been revoked, deleted or have expired since they were checked. */
  async revokedAmong(principals: readonly Principal[]): Promise<Set<string>> {
    const now = Date.now();
    const revoked = new Set<string>();
    for (const p of principals) if (p.expiresAt !== null && p.expiresAt <= now) revoked.add(p.tokenId);
    const jtis = principals.filter((p) => p.kind === 'login').map((p) => p.tokenId);
    const tokenIds = principals.filter((p) => p.kind === 'api_token').map((p) => p.tokenId);
    const userIds = [...new Set(principals.map((p) => p.user.public_id))];
    const [blacklisted, liveTokens, liveUsers] = await Promise.all([
      jtis.length === 0 ? [] : this.db.select({ jti: blacklistTokens.jti }).from(blacklistTokens).where(inArray(blacklistTokens.jti, jtis)),
      tokenIds.length === 0
        ? []
        : this.db
            .select({ id: apiTokens.public_id })
            .from(apiTokens)
            .where(and(inArray(apiTokens.public_id, tokenIds), or(isNull(apiTokens.expires_at), gt(apiTokens.expires_at, sql`now()`)))),
      this.db.select({ id: users.public_id }).from(users).where(inArray(users.public_id, userIds)),
    ]);
    for (const { jti } of blacklisted) revoked.add(jti);
    const live = new Set(liveTokens.map((t) => t.id));
    for (const id of tokenIds) if (!live.has(id)) revoked.add(id);
    const liveUserIds = new Set(liveUsers.map((u) => u.id));
    for (const p of principals) if (!liveUserIds.has(p.user.public_id)) revoked.add(p.tokenId);
    return revoked;
  }

  /** Drops blacklist entries of tokens that have expired anyway. */
  async purgeBlacklist(): Promise<void> {
    await this.db.delete(blacklistTokens).where(sql`${blacklistTokens.expires_at} < now()`);
  }

  private async fromJwt(token: string): Promise<Principal> {
    const claims = await this.jwt.verify(token);
    const [row] = await this.db
      .select({
        user: users,
        revoked: sql<boolean>`exists (select 1 from ${blacklistTokens} where ${blacklistTokens.jti} = ${claims.jti})`,
      })
      .from(users)
      .where(eq(users.public_id, claims.sub))
      .limit(1);
    if (row === undefined) throw unauthorized('Invalid token');
    if (row.revoked) throw unauthorized('Token revoked');
    return {
      role: row.user.role,
      user: row.user,
      kind: 'login',
      tokenId: claims.jti,
      expiresAt: claims.exp * 1000,
      pluginInstancePublicId: null,
    };
  }

  private async fromApiToken(secret: string): Promise<Principal> {
    const [row] = await this.db
      .select({ token: apiTokens, user: users })
      .from(apiTokens)
      .innerJoin(users, eq(users.public_id, apiTokens.user_public_id))
      .where(eq(apiTokens.token_hash, hashApiToken(secret)))
      .limit(1);
    if (row === undefined) throw unauthorized('Invalid token');
    const { token, user } = row;
    if (token.expires_at !== null && token.expires_at.getTime() <= Date.now()) throw unauthorized('Token expired');
    if (token.last_used_at === null || Date.now() - token.last_used_at.getTime() > LAST_USED_RESOLUTION_MS) {
      this.db
        .update(apiTokens)
        .set({ last_used_at: new Date() })
        .where(eq(apiTokens.public_id, token.public_id))
        .catch((err: unknown) => this.log.warn({ err }, 'could not record last_used_at'));
    }
    return {
      role: token.plugin_instance_public_id === null ? user.role : 'device',
      user: user as UserRow,
      kind: 'api_token',
      tokenId: token.public_id,
      expiresAt: token.expires_at?.getTime() ?? null,
      pluginInstancePublicId: token.plugin_instance_public_id,
    };
  }
}
