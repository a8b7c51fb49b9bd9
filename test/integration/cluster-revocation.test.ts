/**
 * Revocation across hubs (PROTOCOL.md §15): a logout or a deleted user at one hub closes the
 * token's sockets on every hub within 1 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { startFirstHub, startPeerHub, type PeerHub } from '../support/cluster.js';
import type { TestHub } from '../support/hub.js';
import { startTestNats, type TestNats } from '../support/nats-server.js';

let nats: TestNats;
let a: TestHub;
let b: PeerHub;
let c: PeerHub;

beforeAll(async () => {
  nats = await startTestNats();
  a = await startFirstHub(nats.url);
  b = await startPeerHub(a, nats.url);
  c = await startPeerHub(a, nats.url);
}, 60_000);
afterAll(async () => {
  await c?.stop();
  await b?.stop();
  await a?.stop();
  await nats?.stop();
});

/** Resolves with the close code, or rejects past `ms`. */
const closedWithin = (client: HubClient, ms: number) =>
  Promise.race([client.closed.then((c) => c.code), new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms))]);

describe('revocation across hubs', () => {
  it('a logout at one hub closes the token’s sockets at the others within 1 s', async () => {
    const { password, user } = await a.userWithRole('viewer');
    const token = await a.login(user.username as string, password);
    const atB = await b.connect(token);
    const atC = await c.connect(token);
    const res = await fetch(`${a.baseUrl}/api/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const started = Date.now();
    expect(await closedWithin(atB, 1000)).toBe(1008);
    expect(await closedWithin(atC, Math.max(1, 1000 - (Date.now() - started)))).toBe(1008);
  });

  it('a user deleted at one hub has its sockets closed at the others within 1 s', async () => {
    const { password, user } = await a.userWithRole('operator');
    const token = await a.login(user.username as string, password);
    const atB = await b.connect(token);
    const admin = await c.connect(a.adminToken);
    await admin.request('users.delete', { public_id: user.public_id });
    await closedWithin(atB, 1000);
    await admin.close();
  });
});
