/**
 * A CSV export lasts at most HUB_EXPORT_MAX_MS however steadily its client reads: a reader that
 * takes a trickle, never slow enough for the stall bound, cannot hold an export connection (one
 * of four in the hub) for hours.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
const MAX_MS = 3_000;
const ROWS = 250_000; // ~30 MB of CSV: minutes at the trickle below
let h: TestHub;
let admin: HubClient;
let experiment: string;

beforeAll(async () => {
  h = await startTestHub({ HUB_EXPORT_MAX_MS: String(MAX_MS), HUB_EXPORT_STALL_MS: '60000' });
  admin = await h.connect(h.adminToken);
  const ev = await admin.request<Rec>('events.create', { name: 'trickle-export', unit: 'V' });
  const exp = await admin.request<Rec>('experiments.create', { name: 'trickle-export' });
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

/** Reads the export a little every 100 ms (never stalled); resolves with what it got when the hub closes the connection. */
function trickleExport(token: string): Promise<{ body: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(Number(new URL(h.baseUrl).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setNoDelay(true);
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      socket.pause();
      setTimeout(() => socket.resume(), 100).unref();
    });
    socket.once('close', () => resolve({ body: Buffer.concat(chunks).toString('latin1'), ms: Date.now() - started }));
    socket.write(`GET /api/experiments/${experiment}/export.csv HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  });
}

describe('the overall bound of an export', () => {
  it('a client reading a trickle is cut at HUB_EXPORT_MAX_MS and its connection released', async () => {
    const { body, ms } = await trickleExport(h.adminToken);
    expect(body).toMatch(/^HTTP\/1\.1 200/);
    // Cut: a finished chunked body ends with the zero-length chunk.
    expect(body.endsWith('\r\n0\r\n\r\n')).toBe(false);
    expect(ms).toBeGreaterThanOrEqual(MAX_MS - 100);
    expect(ms).toBeLessThan(MAX_MS + 15_000);
    await expect
      .poll(
        async () =>
          (
            await h.database.pool.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'telemetry-hub-export' AND state = 'active'`,
              [h.database.name],
            )
          ).rows[0]!.n,
        { timeout: 10_000 },
      )
      .toBe(0);
  }, 60_000);
});
