/**
 * CSV exports cannot starve the hub (issue 8, defect 3): they run on a pool of their own, a few
 * per user, wait for a slot only so long, and a client that stops reading is cut.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { DEFAULT_EXPORT_LIMITS } from '../../src/domain/files.js';
import { startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
const STALL_MS = 10_000;
const WAIT_MS = 1_000;
const ROWS = 250_000; // ~30 MB of CSV: more than the socket buffers of a client that does not read
let h: TestHub;
let admin: HubClient;
let experiment: string;

beforeAll(async () => {
  h = await startTestHub({ HUB_EXPORT_STALL_MS: String(STALL_MS), HUB_EXPORT_WAIT_MS: String(WAIT_MS) });
  admin = await h.connect(h.adminToken);
  const ev = await admin.request<Rec>('events.create', { name: 'big-export', unit: 'V' });
  const exp = await admin.request<Rec>('experiments.create', { name: 'big-export' });
  await admin.request('experiments.stop', { public_id: exp.public_id });
  experiment = exp.public_id;
  await h.database.pool.query(
    `INSERT INTO datapoints (public_id, event_public_id, experiment_public_id, value, "timestamp")
     SELECT gen_random_uuid(), $1, $2, g * 0.5, timestamptz '2026-01-01' + g * interval '1 ms' FROM generate_series(1, ${ROWS}) g`,
    [ev.public_id, exp.public_id],
  );
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

interface StalledExport {
  readonly status: number;
  /** The start of the response: its head, and for errors the whole body. */
  readonly head: string;
  /** Reads the rest of the response until the hub closes the connection; resolves with all of it. */
  drain(): Promise<string>;
  destroy(): void;
}

/** Sends an export request on a raw socket, reads the first bytes of the answer, then stops reading. */
function stalledExport(token: string): Promise<StalledExport> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(h.baseUrl).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.once('error', reject);
    socket.write(`GET /api/experiments/${experiment}/export.csv HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    socket.once('data', (chunk: Buffer) => {
      // A paused socket reads nothing more: the kernel's buffers fill and the hub sees backpressure.
      socket.pause();
      chunks.push(chunk);
      const head = chunk.toString('latin1');
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        destroy: () => socket.destroy(),
        drain: () =>
          new Promise((done) => {
            socket.removeAllListeners('data');
            socket.on('data', (c: Buffer) => chunks.push(c));
            socket.on('error', () => undefined);
            socket.once('close', () => done(Buffer.concat(chunks).toString('latin1')));
            socket.resume();
          }),
      });
    });
  });
}

/** `promise`, or a failure naming `what` after `ms`: a bound, not a timing. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Backends of the export pool in this test's database. */
async function exportBackends(): Promise<number> {
  const { rows } = await h.database.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'telemetry-hub-export' AND backend_type = 'client backend' AND state = 'active'`,
    [h.database.name],
  );
  return rows[0]!.n;
}

describe('stalled CSV exports', () => {
  it('regression: ten stalled exports of one viewer leave login, upgrades and CRUD working; over the caps: 429 and 503', async () => {
    const viewer = await h.userWithRole('viewer');
    const other = await h.userWithRole('viewer');
    const third = await h.userWithRole('viewer');
    const exports = await within(30_000, 'opening the exports', Promise.all(Array.from({ length: 10 }, () => stalledExport(viewer.token))));

    // Meanwhile, someone else logs in, opens a socket and does CRUD.
    const operator = await h.userWithRole('operator');
    const token = await within(5_000, 'login', h.login(operator.user.username as string, operator.password));
    const client = await within(5_000, 'upgrade', h.connect(token));
    const name = `during-exports-${randomUUID()}`;
    await within(5_000, 'events.create', client.request('events.create', { name, unit: 'A' }));
    expect(await within(5_000, 'events.list', client.request<Rec>('events.list', { filter: { name } }))).toMatchObject({ total: 1 });
    await client.close();

    // One viewer gets its two exports; the rest are refused at once.
    const statuses = exports.map((e) => e.status).sort();
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429, 429, 429, 429, 429]);
    const refused = exports.find((e) => e.status === 429)!;
    expect(refused.head).toMatch(/"code":"rate_limited"/);
    expect(refused.head).toMatch(/"retry_after_ms":\d+/);

    // A second viewer fills the hub's four slots; a third viewer's export waits, then gets 503 busy.
    const more = await within(30_000, 'the other viewers', Promise.all([other.token, other.token, third.token].map((t) => stalledExport(t))));
    expect(more.map((e) => e.status).sort()).toEqual([200, 200, 503]);
    const busy = more.find((e) => e.status === 503)!;
    expect(busy.head).toMatch(/"code":"busy"/);
    expect(busy.head).toMatch(/"retry_after_ms":\d+/);
    expect(await exportBackends()).toBeLessThanOrEqual(DEFAULT_EXPORT_LIMITS.total);

    // Clients that do not read are cut after the stall bound: connections released, bodies cut short.
    await within(STALL_MS + 20_000, 'releasing the export connections', (async () => {
      while ((await exportBackends()) > 0) await new Promise((r) => setTimeout(r, 200));
    })());
    const held = [...exports, ...more].filter((e) => e.status === 200);
    const bodies = await within(20_000, 'reading the cut exports', Promise.all(held.map((e) => e.drain())));
    for (const body of bodies) {
      expect(body.length).toBeGreaterThan(0);
      // A finished chunked body ends with the zero-length chunk; a cut one does not.
      expect(body.endsWith('\r\n0\r\n\r\n')).toBe(false);
    }
    for (const e of [...exports, ...more]) e.destroy();

    // The slots came back: the same viewer exports the whole experiment.
    const res = await fetch(`${h.baseUrl}/api/experiments/${experiment}/export.csv`, { headers: { authorization: `Bearer ${viewer.token}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.split('\r\n')).toHaveLength(ROWS + 2);
  }, 90_000);
});
