/** `auth.me` and `auth.logout`. @see PROTOCOL.md §5, §10 */
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { SessionRegistry } from '../auth/sessions.js';
import { ANYONE } from './access.js';
import type { OpDef } from '../protocol/ops.js';
import { toRecord } from '../protocol/records.js';
import { Type } from '@sinclair/typebox';

const Empty = Type.Object({}, { additionalProperties: false });

export function authOps(authenticator: Authenticator, sessions: SessionRegistry, log: Logger): OpDef[] {
  return [
    {
      name: 'auth.me',
      allow: ANYONE,
      schema: Empty,
      handle: async (_data, { principal }) => ({
        user: toRecord('users', principal.user),
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
  ];
}
