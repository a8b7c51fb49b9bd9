/**
 * Login, token checks and revocation. A token is a login JWT or an API token; either resolves
 * to a {@link Principal} against the database, so a deleted user or token, a revoked JWT or a
 * changed role takes effect on the next check.
 * @see PROTOCOL.md §1, §2, §8
 */
import { and, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/database.js';
import { apiTokens, blacklistTokens, pluginInstances, users } from '../db/schema.js';
import { mapDbError } from '../db/db-errors.js';
import { HubError, forbidden, unauthorized } from '../errors.js';
import { hashApiToken } from './api-token-secret.js';
import { JwtCodec, looksLikeJwt } from './jwt.js';
import { hashPassword, verifyDecoy, verifyPassword } from './passwords.js';
import { principalUser, type Principal, type UserRow } from './principal.js';
import { KeyedSemaphore, RateLimiter } from './rate-limit.js';

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
/** Password checks (argon2, ~50 ms of CPU and 19 MiB each) one address may have running at once… */
export const PASSWORD_CHECKS_PER_ADDRESS = 4;
/** …and waiting for their turn; more are refused with 429 at once. */
export const PASSWORD_CHECKS_WAITING_PER_ADDRESS = 16;
/** Longest username a user can have (PROTOCOL.md §5): longer ones are not looked up. */
const MAX_USERNAME = 50;

export class Authenticator {
  private readonly perUser = new RateLimiter({ limit: LOGIN_LIMIT_PER_USER, windowMs: 60_000 });
  private readonly perAddress = new RateLimiter({ limit: LOGIN_LIMIT_PER_ADDRESS, windowMs: 60_000 });
  /** Runs after each successful login (the hub's log); its failure is logged, not the login's. */
  afterLogin: ((user: { public_id: string; username: string }) => Promise<void>) | undefined;
  /** Password checks running and waiting, per address (login) or per user (change_password). */
  private readonly checking = new KeyedSemaphore(PASSWORD_CHECKS_PER_ADDRESS, PASSWORD_CHECKS_WAITING_PER_ADDRESS);

  constructor(
    private readonly db: Db,
    private readonly jwt: JwtCodec,
    private readonly log: Logger,
  ) {}

  /**
   * Checks a username and password; `401` when wrong, `429` after too many failures. An attempt
   * is counted before its password is checked, so concurrent guesses cannot pass the limit,
   * and each address has at most PASSWORD_CHECKS_PER_ADDRESS checks running at once.
   */
  async login(username: string, password: string, address: string): Promise<LoginResult> {
    const userKey = `${address}|${username.toLowerCase()}`;
    const wait = Math.max(this.perUser.retryAfter(userKey), this.perAddress.retryAfter(address));
    if (wait > 0) throw new HubError('rate_limited', 'Too many login attempts; retry later', { retryAfterMs: wait });
    this.perUser.fail(userKey);
    this.perAddress.fail(address);
    const user = await this.checkPassword(`login|${address}`, password, () => this.findUser(username));
    if (user === undefined) throw unauthorized('Invalid username or password');
    // Said only to whom knows the password; the attempt keeps counting as a failure.
    if (!user.password_login) throw unauthorized('Password login is off for this user: sign in through single sign-on');
    // A success takes back its own count; other attempts' counts stay.
    this.perUser.reset(userKey);
    this.perAddress.undo(address);
    this.log.info({ user: user.public_id }, 'login');
    await this.afterLogin?.(user).catch((err: unknown) => this.log.warn({ err }, 'the login could not be logged'));
    return this.loginResult(user);
  }

  /** The body of a successful login for `user` (a new login token): password and SSO logins alike. */
  async loginResult(user: UserRow): Promise<LoginResult> {
    const { token } = await this.jwt.sign(user.public_id, user.role, user.token_generation);
    return {
      access_token: token,
      token_type: 'bearer',
      expires_in: this.jwt.ttlSeconds,
      user: { public_id: user.public_id, username: user.username, role: user.role },
    };
  }

  /**
   * Changes the caller's own password after checking the current one: the user's token
   * generation moves on, so every login token issued before stops working (the caller gets a
   * new one). `401` for a wrong current password, `429` after too many.
   */
  async changePassword(principal: Principal, current: string, next: string): Promise<LoginResult> {
    const key = `change|${principal.user.public_id}`;
    const wait = this.perUser.retryAfter(key);
    if (wait > 0) throw new HubError('rate_limited', 'Too many attempts; retry later', { retryAfterMs: wait });
    this.perUser.fail(key);
    const user = await this.checkPassword(key, current, () => this.findUser(principal.user.username, principal.user.public_id));
    if (user === undefined) throw unauthorized('The current password is wrong');
    this.perUser.reset(key);
    const hash = await hashPassword(next);
    const [row] = await this.db
      .update(users)
      .set({ password_hash: hash, token_generation: sql`${users.token_generation} + 1` })
      .where(eq(users.public_id, user.public_id))
      .returning()
      .catch((err: unknown) => {
        throw mapDbError(err, 'User');
      });
    if (row === undefined) throw unauthorized('Invalid token');
    const { token } = await this.jwt.sign(row.public_id, row.role, row.token_generation);
    this.log.info({ user: row.public_id }, 'password changed; older login tokens revoked');
    return {
      access_token: token,
      token_type: 'bearer',
      expires_in: this.jwt.ttlSeconds,
      user: { public_id: row.public_id, username: row.username, role: row.role },
    };
  }

  /**
   * The user's current row (`auth.me`): principals keep only a few fields, as they were when the
   * token was checked. `401` when the user is gone (the socket's close is on its way).
   */
  async currentUser(publicId: string): Promise<UserRow> {
    let user: UserRow | undefined;
    try {
      [user] = await this.db.select().from(users).where(eq(users.public_id, publicId)).limit(1);
    } catch (err) {
      throw mapDbError(err, 'User');
    }
    if (user === undefined) throw unauthorized('Invalid token');
    return user;
  }

  /** The user whose password is `password` (undefined when none), with bounded concurrent checks per `slot`. */
  private async checkPassword(slot: string, password: string, find: () => Promise<UserRow | undefined>): Promise<UserRow | undefined> {
    if (!(await this.checking.acquire(slot))) {
      throw new HubError('rate_limited', 'Too many password checks at once; retry later', { retryAfterMs: 1000 });
    }
    try {
      const user = await find();
      const ok = user === undefined ? await verifyDecoy(password) : await verifyPassword(user.password_hash, password);
      return ok ? user : undefined;
    } finally {
      this.checking.release(slot);
    }
  }

  /** A user by username (and public_id); names no user can have are not looked up. */
  private async findUser(username: string, publicId?: string): Promise<UserRow | undefined> {
    // PostgreSQL refuses NUL in text (an error, not "no such user").
    if (username.length > MAX_USERNAME || username.includes('\0')) return undefined;
    try {
      const [user] = await this.db
        .select()
        .from(users)
        .where(publicId === undefined ? eq(users.username, username) : eq(users.public_id, publicId))
        .limit(1);
      return user;
    } catch (err) {
      throw mapDbError(err, 'User');
    }
  }

  /** The principal of a bearer token; `401` for anything missing, malformed, expired or revoked. */
  async authenticate(token: string | undefined): Promise<Principal> {
    if (token === undefined || token === '') throw unauthorized('A bearer token is required');
    if (token.length > 4096) throw unauthorized('Invalid token');
    try {
      return await (looksLikeJwt(token) ? this.fromJwt(token) : this.fromApiToken(token));
    } catch (err) {
      // An unreachable or overloaded database is 503 busy (retry), not 500.
      throw mapDbError(err, 'Token');
    }
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
            .leftJoin(pluginInstances, eq(pluginInstances.public_id, apiTokens.plugin_instance_public_id))
            .where(
              and(
                inArray(apiTokens.public_id, tokenIds),
                or(isNull(apiTokens.expires_at), gt(apiTokens.expires_at, sql`now()`)),
                // A device token of a disabled instance is, for its open sockets, revoked.
                or(isNull(apiTokens.plugin_instance_public_id), eq(pluginInstances.enabled, true)),
              ),
            ),
      this.db
        .select({ id: users.public_id, role: users.role, generation: users.token_generation })
        .from(users)
        .where(inArray(users.public_id, userIds)),
    ]);
    for (const { jti } of blacklisted) revoked.add(jti);
    const live = new Set(liveTokens.map((t) => t.id));
    for (const id of tokenIds) if (!live.has(id)) revoked.add(id);
    const liveUserById = new Map(liveUsers.map((u) => [u.id, u]));
    for (const p of principals) {
      const user = liveUserById.get(p.user.public_id);
      // Gone; a password changed since a login token was issued; a role that is no longer the user's.
      if (user === undefined) revoked.add(p.tokenId);
      else if (p.kind === 'login' && user.generation !== p.user.token_generation) revoked.add(p.tokenId);
      else if (p.role !== 'device' && user.role !== p.role) revoked.add(p.tokenId);
    }
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
        user: { public_id: users.public_id, username: users.username, role: users.role, token_generation: users.token_generation },
        revoked: sql<boolean>`exists (select 1 from ${blacklistTokens} where ${blacklistTokens.jti} = ${claims.jti})`,
      })
      .from(users)
      .where(eq(users.public_id, claims.sub))
      .limit(1);
    if (row === undefined) throw unauthorized('Invalid token');
    if (row.revoked || row.user.token_generation !== claims.gen) throw unauthorized('Token revoked');
    return {
      role: row.user.role,
      user: principalUser(row.user),
      kind: 'login',
      tokenId: claims.jti,
      expiresAt: claims.exp * 1000,
      pluginInstancePublicId: null,
    };
  }

  private async fromApiToken(secret: string): Promise<Principal> {
    const [row] = await this.db
      .select({
        token: apiTokens,
        user: { public_id: users.public_id, username: users.username, role: users.role, token_generation: users.token_generation },
        instanceEnabled: pluginInstances.enabled,
      })
      .from(apiTokens)
      .innerJoin(users, eq(users.public_id, apiTokens.user_public_id))
      .leftJoin(pluginInstances, eq(pluginInstances.public_id, apiTokens.plugin_instance_public_id))
      .where(eq(apiTokens.token_hash, hashApiToken(secret)))
      .limit(1);
    if (row === undefined) throw unauthorized('Invalid token');
    const { token, user } = row;
    if (token.expires_at !== null && token.expires_at.getTime() <= Date.now()) throw unauthorized('Token expired');
    // A disabled instance's devices are refused (PROTOCOL.md §13): 403, the token itself is fine.
    if (token.plugin_instance_public_id !== null && row.instanceEnabled === false) throw forbidden('This device\'s plugin instance is disabled');
    if (token.last_used_at === null || Date.now() - token.last_used_at.getTime() > LAST_USED_RESOLUTION_MS) {
      this.db
        .update(apiTokens)
        .set({ last_used_at: new Date() })
        .where(eq(apiTokens.public_id, token.public_id))
        .catch((err: unknown) => this.log.warn({ err }, 'could not record last_used_at'));
    }
    return {
      role: token.plugin_instance_public_id === null ? user.role : 'device',
      user: principalUser(user),
      kind: 'api_token',
      tokenId: token.public_id,
      expiresAt: token.expires_at?.getTime() ?? null,
      pluginInstancePublicId: token.plugin_instance_public_id,
    };
  }
}
