/**
 * Every op × every role against PROTOCOL.md §2, from a table written here from the protocol
 * (not from the hub's own access table, so the two are checked against each other).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { rawSocket, startTestHub, type TestHub } from '../support/hub.js';

type Role = 'admin' | 'operator' | 'viewer' | 'device';
const P: Role[] = ['admin', 'operator', 'viewer'];
const O: Role[] = ['admin', 'operator'];
const A: Role[] = ['admin'];
const ALL: Role[] = ['admin', 'operator', 'viewer', 'device'];

const crud = (list: Role[], get: Role[], write: Role[]) => ({ list, get, create: write, update: write, delete: write });

/** op → roles allowed to call it, per PROTOCOL.md §2 and §5. */
const EXPECTED: Record<string, Role[]> = {
  ...prefix('users', { list: P, get: P, create: A, update: P, delete: A }),
  ...prefix('events', crud(P, P, O)),
  ...prefix('experiments', { ...crud(P, P, O), stop: O }),
  ...prefix('datapoints', { list: P, get: P, delete: O }),
  ...prefix('log_entries', crud(P, P, O)),
  ...prefix('rules', crud(P, P, O)),
  ...prefix('webhooks', { ...crud(A, A, A), test: A }),
  ...prefix('webhook_deliveries', { list: A, get: A, retry: A }),
  ...prefix('firmware_updates', { ...crud(P, P, A), apply: A, rollback: A, check: ALL, report: ['device'] }),
  ...prefix('dashboards', crud(P, P, O)),
  ...prefix('dashboard_widgets', crud(P, P, O)),
  ...prefix('plugin_packages', crud(P, P, A)),
  ...prefix('plugin_instances', { ...crud(P, [...P, 'device'], A) }),
  ...prefix('channel_mappings', { ...crud([...P, 'device'], P, A) }),
  ...prefix('api_tokens', crud(P, P, A)),
  'auth.me': ALL,
  'auth.logout': ALL,
  'auth.change_password': P,
  'commands.send': O,
  'commands.reply': ['device'],
  ingest: ['admin', 'operator', 'device'],
  subscribe: ALL,
  unsubscribe: ALL,
  'datapoints.query': P,
  'datapoints.latest': P,
};

function prefix(resource: string, ops: Record<string, Role[]>): Record<string, Role[]> {
  return Object.fromEntries(Object.entries(ops).map(([op, roles]) => [`${resource}.${op}`, roles]));
}

let h: TestHub;
const clients = {} as Record<Role, HubClient>;

beforeAll(async () => {
  h = await startTestHub();
  const admin = await h.connect(h.adminToken);
  clients.admin = admin;
  clients.operator = await h.connect((await h.userWithRole('operator')).token);
  clients.viewer = await h.connect((await h.userWithRole('viewer')).token);
  const instance = await admin.request<{ public_id: string }>('plugin_instances.create', { plugin_id: 'sim', instance_name: 'sec-device' });
  const token = await admin.request<{ token: string }>('api_tokens.create', { name: 'dev', plugin_instance_public_id: instance.public_id });
  clients.device = await h.connect(token.token);
});
afterAll(async () => {
  for (const client of Object.values(clients)) await client?.close();
  await h?.stop();
});

describe('the op × role table', () => {
  it('the hub serves exactly the ops of the table', () => {
    expect([...h.hub.opNames].sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  const cases = Object.entries(EXPECTED)
    .filter(([op]) => op !== 'auth.logout')
    .flatMap(([op, allowed]) => ALL.map((role) => ({ op, role, allowed: allowed.includes(role) })));

  it.each(cases)('$op as $role: allowed=$allowed', async ({ op, role, allowed }) => {
    const outcome = await clients[role].request(op, {}).then(
      () => 'ok',
      (err: { code?: string; status?: number }) => err.code ?? 'error',
    );
    if (allowed) expect(outcome).not.toBe('forbidden');
    else expect(outcome).toBe('forbidden');
  });

  it('auth.logout is allowed for every role', async () => {
    for (const role of ['operator', 'viewer'] as const) {
      const client = await h.connect((await h.userWithRole(role)).token);
      await expect(client.request('auth.logout')).resolves.toEqual({ status: 'success' });
      expect((await client.closed).code).toBe(1008);
    }
  });
});

describe('no token', () => {
  it('refuses the upgrade with 401 before any socket exists', async () => {
    await expect(rawSocket(h.wsUrl, undefined)).rejects.toMatchObject({ statusCode: 401 });
  });
});
