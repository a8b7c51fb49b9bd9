/** `auth.me`, `auth.logout` and `auth.change_password`. @see PROTOCOL.md §5, §10 */
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { SessionRegistry } from '../auth/sessions.js';
import { ANYONE, PERSON } from './access.js';
import type { OpDef } from '../protocol/ops.js';
import { toRecord } from '../protocol/records.js';
import { Type } from '@sinclair/typebox';

const Empty = Type.Object({}, { additionalProperties: false });
const ChangePassword = Type.Object(
  { current_password: Type.String({ minLength: 1, maxLength: 1024 }), new_password: Type.String({ minLength: 8, maxLength: 1024 }) },
  { additionalProperties: false },
);

export function authOps(authenticator: Authenticator, sessions: SessionRegistry, log: Logger): OpDef[] {
  return [
    {
      name: 'auth.me',
      allow: ANYONE,
      schema: Empty,
      // The current row, read now: the principal keeps only a few fields from when the token was checked.
      handle: async (_data, { principal }) => ({
        user: toRecord('users', await authenticator.currentUser(principal.user.public_id)),
        role: principal.role,
        ...(principal.pluginInstancePublicId === null ? {} : { plugin_instance_public_id: principal.pluginInstancePublicId }),
      }),
    },
    {
      name: 'auth.logout',
      allow: ANYONE,
      schema: Empty,
      handle: async (_data, { principal }) => {
        await authenticator.revoke(principal);
        log.info({ user: principal.user.public_id, kind: principal.kind }, 'logout');
        // After this reply is written (same tick), every socket of the token closes with 1008.
        setImmediate(() => sessions.closeByToken(principal.tokenId, 'logged out'));
        return { status: 'success' };
      },
    },
    {
      // Any user changes their own password (not devices). Every login token of the user issued
      // before stops working, this socket's included: the reply carries a new one, then the
      // user's login sockets close with 1008.
      name: 'auth.change_password',
      allow: PERSON,
      schema: ChangePassword,
      handle: async (data, { principal }) => {
        const { current_password, new_password } = data as { current_password: string; new_password: string };
        const result = await authenticator.changePassword(principal, current_password, new_password);
        setImmediate(() => sessions.closeByUser(principal.user.public_id, 'password changed', 'login'));
        return result;
      },
    },
  ];
}
