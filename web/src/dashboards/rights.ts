/**
 * What the signed-in user may change: admins every dashboard, operators their own (and the
 * widgets on them), viewers nothing. The UI shows only those controls; the hub still decides,
 * and its 403 is shown as a message. @see PROTOCOL.md §2
 */
import type { DashboardRecord } from '@telemetry-hub/client';
import { call, canWrite, isAdmin, role, username } from '../session.js';

let me: { who: string; id: Promise<string | null> } | undefined;

/** The user's public_id (asked once per login: another user, or a new role, asks again). */
export function myId(): Promise<string | null> {
  const who = `${username.value ?? ''}:${role.value ?? ''}`;
  if (me === undefined || me.who !== who) {
    me = { who, id: call('auth.me', {}).then((r) => r.user.public_id, () => null) };
  }
  return me.id;
}

export function canEditDashboard(d: DashboardRecord, mine: string | null): boolean {
  if (isAdmin()) return true;
  return canWrite() && mine !== null && d.user_public_id === mine;
}

/** Operators and admins may write actuator values (`ingest`); viewers see them read-only. */
export function canActuate(): boolean {
  return canWrite();
}
