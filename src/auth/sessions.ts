/**
 * Open sessions (sockets) by the token, user and plugin instance they were opened with, so that
 * revoking a token, deleting a user or API token, or a token's expiry closes every socket of it.
 * Transport-agnostic: a session is a `close` callback; the server owns the sockets.
 */
import { CLOSE } from '../close-codes.js';
import type { Principal } from './principal.js';


/** Principals checked per revocation query. */
const SWEEP_SLICE = 5_000;

export interface Session {
  readonly principal: Principal;
  close(code: number, reason: string): void;
}

/** Checks, in bulk, which of the given sessions' tokens are no longer valid (used by the sweep). */
/** A revocation, as announced across hubs. */
export type Revocation =
  | { kind: 'token'; id: string; reason: string }
  | { kind: 'user'; id: string; reason: string; which: 'all' | 'login' | 'person' }
  | { kind: 'instance'; id: string; reason: string };

export type RevocationCheck = (principals: readonly Principal[]) => Promise<ReadonlySet<string>>;

export class SessionRegistry {
  private readonly sessions = new Set<Session>();
  /**
   * Sessions by the instant their token expires, with one timer per instant: the sockets of one
   * token share it, rather than each socket holding a timer of its own.
   */
  private readonly expiring = new Map<number, { timer: NodeJS.Timeout; sessions: Set<Session> }>();
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping = false;
  private closedWith: { code: number; reason: string } | undefined;

  get size(): number {
    return this.sessions.size;
  }

  /** Tracks a session and closes it when its token expires. */
  add(session: Session): void {
    // A socket whose upgrade finished after shutdown began closes like the others did.
    if (this.closedWith !== undefined) {
      session.close(this.closedWith.code, this.closedWith.reason);
      return;
    }
    this.sessions.add(session);
    const expiresAt = session.principal.expiresAt;
    if (expiresAt === null) return;
    const due = this.expiring.get(expiresAt);
    if (due !== undefined) {
      due.sessions.add(session);
      return;
    }
    // setTimeout overflows past ~24.8 days; such a session is closed by the sweep instead.
    const delay = Math.max(0, expiresAt - Date.now());
    if (delay >= 2 ** 31 - 1) return;
    const sessions = new Set([session]);
    const timer = setTimeout(() => {
      this.expiring.delete(expiresAt);
      for (const s of sessions) s.close(CLOSE.tokenRevoked, 'token expired');
    }, delay);
    timer.unref();
    this.expiring.set(expiresAt, { timer, sessions });
  }

  remove(session: Session): void {
    this.sessions.delete(session);
    const expiresAt = session.principal.expiresAt;
    const due = expiresAt === null ? undefined : this.expiring.get(expiresAt);
    if (due === undefined || !due.sessions.delete(session) || due.sessions.size > 0) return;
    clearTimeout(due.timer);
    this.expiring.delete(expiresAt as number);
  }

  /** Set with several hubs (PROTOCOL.md §15): each revocation decided here is announced to the others. */
  relay: ((revocation: Revocation) => void) | undefined;

  /** A revocation announced by another hub: closes the matching sessions here, announcing nothing. */
  apply(r: Revocation): number {
    const relay = this.relay;
    this.relay = undefined;
    try {
      if (r.kind === 'token') return this.closeByToken(r.id, r.reason);
      if (r.kind === 'user') return this.closeByUser(r.id, r.reason, r.which);
      return this.closeByPluginInstance(r.id, r.reason);
    } finally {
      this.relay = relay;
    }
  }

  /** Closes every session opened with the token `tokenId`. */
  closeByToken(tokenId: string, reason = 'token revoked'): number {
    this.relay?.({ kind: 'token', id: tokenId, reason });
    return this.closeWhere((p) => p.tokenId === tokenId, reason);
  }

  /**
   * Closes the sessions of a user: all of them (the user is deleted), or those of one kind of
   * token (`login` after a password change, `person` — every token acting with the user's own
   * role, not their devices — after a role change).
   */
  closeByUser(userPublicId: string, reason = 'user removed', which: 'all' | 'login' | 'person' = 'all'): number {
    this.relay?.({ kind: 'user', id: userPublicId, reason, which });
    return this.closeWhere(
      (p) =>
        p.user.public_id === userPublicId &&
        (which === 'all' || (which === 'login' ? p.kind === 'login' : p.role !== 'device')),
      reason,
    );
  }

  /** Closes every device session of a plugin instance (its tokens go with it). */
  closeByPluginInstance(pluginInstancePublicId: string, reason = 'plugin instance removed'): number {
    this.relay?.({ kind: 'instance', id: pluginInstancePublicId, reason });
    return this.closeWhere((p) => p.pluginInstancePublicId === pluginInstancePublicId, reason);
  }

  /** Closes every session with `code` (shutdown: 1001), and every session added from now on. */
  closeAll(code: number, reason: string): void {
    this.closedWith = { code, reason };
    for (const session of [...this.sessions]) session.close(code, reason);
  }

  /**
   * Every `intervalMs`, asks `check` which tokens are no longer valid and closes their sessions:
   * this catches revocations made by another hub process or directly in the database.
   */
  startSweep(check: RevocationCheck, intervalMs: number, onError: (err: unknown) => void): void {
    this.sweeper = setInterval(() => {
      if (this.sweeping || this.sessions.size === 0) return;
      this.sweeping = true;
      const principals = [...new Set([...this.sessions].map((s) => s.principal))];
      // In slices: a query takes at most 65 535 parameters, and a fleet may hold more tokens.
      (async () => {
        for (let i = 0; i < principals.length; i += SWEEP_SLICE) {
          const revoked = await check(principals.slice(i, i + SWEEP_SLICE));
          // Every hub sweeps its own sessions: nothing to announce.
          for (const tokenId of revoked) this.closeWhere((p) => p.tokenId === tokenId, 'token revoked');
        }
      })()
        .catch(onError)
        .finally(() => {
          this.sweeping = false;
        });
    }, intervalMs);
    this.sweeper.unref();
  }

  stopSweep(): void {
    clearInterval(this.sweeper);
  }

  private closeWhere(match: (p: Principal) => boolean, reason: string): number {
    let closed = 0;
    for (const session of [...this.sessions]) {
      if (match(session.principal)) {
        session.close(CLOSE.tokenRevoked, reason);
        closed++;
      }
    }
    return closed;
  }
}
