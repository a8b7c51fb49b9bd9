/**
 * Single sign-on (PROTOCOL.md §17), transport-agnostic: `begin` makes the authorization request
 * and its state cookie, `callback` checks the provider's redirect and hands out a one-time code,
 * `exchange` turns that code into the body of a login. Logs, log entries and metrics say what
 * happened, never with a token, a code or a claim value beyond the user's own name.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import { audit } from '../../automation/audit.js';
import type { OidcConfig } from '../../config.js';
import type { Db } from '../../db/database.js';
import { blacklistTokens, users } from '../../db/schema.js';
import { HubError, forbidden, unauthorized } from '../../errors.js';
import type { Metrics } from '../../metrics.js';
import type { Authenticator, LoginResult } from '../authenticator.js';
import type { SessionRegistry } from '../sessions.js';
import { ProviderCheckFailed, ProviderClient, type PendingLogin } from './provider-client.js';
import { Sealer } from './sealed.js';
import { SsoRefused, SsoUsers } from './sso-users.js';

/** The state cookie lives at most this long: the time to sign in at the provider. @see PROTOCOL.md §17 */
export const STATE_TTL_S = 600;
/** A one-time code works for at most this long. @see PROTOCOL.md §17 */
export const CODE_TTL_S = 60;
/** Prefix of used codes' ids in blacklist_tokens (kept until they would have expired anyway). */
const USED_CODE_PREFIX = 'sso:';

export interface SsoDeps {
  readonly config: OidcConfig;
  readonly db: Db;
  readonly authenticator: Authenticator;
  readonly sessions: SessionRegistry;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** The hub's JWT secret: the cookie and code keys derive from it (every hub shares it). */
  readonly secret: string;
  /** The first admin's username: never linked (PROTOCOL.md §17, a way in when the provider is down). */
  readonly localOnlyUsername: string;
}

/** The state cookie: its name, and its attributes (`Secure` when the redirect URL is https). */
export interface StateCookie {
  readonly name: string;
  readonly attributes: string;
}

export class SsoService {
  readonly cookie: StateCookie;
  readonly providerName: string;
  private readonly provider: ProviderClient;
  private readonly sealer: Sealer;
  private readonly users: SsoUsers;

  constructor(private readonly deps: SsoDeps) {
    const secure = new URL(deps.config.redirectUrl).protocol === 'https:';
    // Path: sent only to the SSO routes. SameSite=Lax: the provider's top-level redirect back carries it.
    this.cookie = {
      name: secure ? '__Secure-hub_sso_state' : 'hub_sso_state',
      attributes: `Path=/api/auth/sso; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`,
    };
    this.providerName = deps.config.providerName;
    this.provider = new ProviderClient(deps.config);
    this.sealer = new Sealer(deps.secret);
    this.users = new SsoUsers(deps.db, deps.config, deps.localOnlyUsername);
  }

  /** `GET /api/auth/sso/login`: where to send the browser, and the `Set-Cookie` value binding the state to it. */
  async begin(): Promise<{ location: string; setCookie: string }> {
    let request: Awaited<ReturnType<ProviderClient['authorizationRequest']>>;
    try {
      request = await this.provider.authorizationRequest();
    } catch (err) {
      this.deps.log.warn({ err }, 'the OpenID provider cannot be reached');
      throw new HubError('busy', 'The identity provider cannot be reached; retry later', { retryAfterMs: 5000 });
    }
    const { state, nonce, codeVerifier } = request.pending;
    const sealed = await this.sealer.seal('sso-state', { s: state, n: nonce, v: codeVerifier }, STATE_TTL_S);
    return { location: request.url.href, setCookie: `${this.cookie.name}=${sealed}; Max-Age=${STATE_TTL_S}; ${this.cookie.attributes}` };
  }

  /** The `Set-Cookie` value that removes the state cookie (the callback uses it once). */
  clearCookie(): string {
    return `${this.cookie.name}=; Max-Age=0; ${this.cookie.attributes}`;
  }

  /**
   * `GET /api/auth/sso/callback`: every check, then the user, then the page's address with a
   * one-time code. Any failure is a 4xx {@link HubError} (401 a check, 403 the hub's policy).
   */
  async callback(query: string, cookieHeader: string): Promise<{ location: string }> {
    try {
      const pending = await this.pendingFrom(query, cookieHeader);
      const claims = await this.provider.complete(query, pending);
      const resolved = await this.users.resolve(claims);
      const { user } = resolved;
      if (resolved.previousRole !== undefined) {
        // Rights follow the provider at once: the user's sockets close (1008) and reconnect with the new role.
        this.deps.sessions.closeByUser(user.public_id, 'role changed', 'person');
      }
      if (resolved.keptLastAdmin === true) {
        this.deps.log.warn({ user: user.public_id }, 'the provider no longer maps this user to admin, but it is the last admin: role kept');
      }
      const code = await this.sealer.seal('sso-code', { u: user.public_id, j: randomUUID() }, CODE_TTL_S);
      this.deps.metrics.ssoLogins.inc({ outcome: resolved.how, reason: '' });
      this.deps.log.info(
        { user: user.public_id, how: resolved.how, ...(resolved.previousRole === undefined ? {} : { role: user.role, previous_role: resolved.previousRole }) },
        'sso sign-in',
      );
      await audit
        .ssoLogin(this.deps.db, user, resolved.how, resolved.previousRole === undefined ? undefined : { from: resolved.previousRole, to: user.role })
        .catch((err: unknown) => this.deps.log.warn({ err }, 'the SSO sign-in could not be logged'));
      return { location: `/#sso_code=${code}` };
    } catch (err) {
      throw await this.refusal(err);
    }
  }

  /** `POST /api/auth/sso/exchange`: a code's login body, once; `401` for a bad, expired or used code. */
  async exchange(code: string): Promise<LoginResult> {
    const payload = await this.sealer.open('sso-code', code);
    if (payload === undefined || typeof payload.u !== 'string' || typeof payload.j !== 'string' || typeof payload.exp !== 'number') {
      this.deps.metrics.ssoLogins.inc({ outcome: 'refused', reason: 'bad_code' });
      throw unauthorized('Invalid or expired sign-in code');
    }
    // Single use across every hub of the database: the first exchange records the code as used.
    const used = await this.deps.db
      .insert(blacklistTokens)
      .values({ jti: `${USED_CODE_PREFIX}${payload.j}`, expires_at: new Date(payload.exp * 1000) })
      .onConflictDoNothing()
      .returning({ id: blacklistTokens.id });
    if (used.length === 0) {
      this.deps.metrics.ssoLogins.inc({ outcome: 'refused', reason: 'code_reused' });
      this.deps.log.warn({ user: payload.u }, 'sso: a sign-in code was presented again');
      throw unauthorized('This sign-in code was already used');
    }
    const [user] = await this.deps.db.select().from(users).where(eq(users.public_id, payload.u)).limit(1);
    if (user === undefined) throw unauthorized('Invalid or expired sign-in code');
    return this.deps.authenticator.loginResult(user);
  }

  /** The pending login bound to this browser, checked against the callback's `state`. */
  private async pendingFrom(query: string, cookieHeader: string): Promise<PendingLogin> {
    const sealed = readCookie(cookieHeader, this.cookie.name);
    if (sealed === undefined) throw new ProviderCheckFailed('missing_state_cookie', 'This sign-in was not started in this browser, or took too long; start again');
    const payload = await this.sealer.open('sso-state', sealed);
    if (payload === undefined || typeof payload.s !== 'string' || typeof payload.n !== 'string' || typeof payload.v !== 'string') {
      throw new ProviderCheckFailed('bad_state_cookie', 'This sign-in took too long or its cookie was altered; start again');
    }
    const state = new URLSearchParams(query).get('state') ?? '';
    if (!sameText(state, payload.s)) throw new ProviderCheckFailed('state_mismatch', 'The sign-in does not match the one this browser started; start again');
    return { state: payload.s, nonce: payload.n, codeVerifier: payload.v };
  }

  /** Logs, counts and records a refused callback; returns the error to answer with. */
  private async refusal(err: unknown): Promise<unknown> {
    let reason: string;
    let answer: HubError;
    if (err instanceof ProviderCheckFailed) {
      reason = err.reason;
      answer = unauthorized(err.message);
    } else if (err instanceof SsoRefused) {
      reason = err.reason;
      answer = forbidden(err.message);
    } else if (err instanceof HubError) {
      return err;
    } else {
      this.deps.log.error({ err }, 'sso: the callback failed');
      return err;
    }
    this.deps.metrics.ssoLogins.inc({ outcome: 'refused', reason: reason.split(':')[0] ?? reason });
    this.deps.log.warn({ reason }, 'sso sign-in refused');
    await audit.ssoRefused(this.deps.db, reason).catch((e: unknown) => this.deps.log.warn({ err: e }, 'the SSO refusal could not be logged'));
    return answer;
  }
}

/** One cookie's value from a `Cookie` header. */
function readCookie(header: string, name: string): string | undefined {
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
