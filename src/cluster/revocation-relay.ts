/**
 * Revocation across hubs (PROTOCOL.md §15): a logout, a deleted token, user or plugin
 * instance, a password or role change decided at one hub closes the matching sockets at every
 * hub within milliseconds, on the control subject `<prefix>.control.revoke`. Each hub's 1 s
 * sweep of its own sessions against the database stays as the fallback (NATS down, a message
 * lost, a revocation made directly in SQL), so the 1 s bound holds either way.
 * @see PROTOCOL.md §15
 */
import type { Logger } from 'pino';
import type { Revocation, SessionRegistry } from '../auth/sessions.js';
import type { NatsBus } from '../live/bus-nats.js';

const SUBJECT = 'revoke';

/** Announces this hub's revocations and applies the other hubs'. */
export function relayRevocations(bus: NatsBus, sessions: SessionRegistry, log: Logger): void {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  sessions.relay = (revocation) => {
    bus.publishControl(SUBJECT, encoder.encode(JSON.stringify(revocation)));
  };
  bus.control(SUBJECT, (data) => {
    let revocation: Revocation;
    try {
      revocation = JSON.parse(decoder.decode(data)) as Revocation;
    } catch (err) {
      log.warn({ err }, 'revocation relay: undecodable message dropped');
      return;
    }
    if (typeof revocation?.id !== 'string' || typeof revocation.reason !== 'string') return;
    sessions.apply(revocation);
  });
}
