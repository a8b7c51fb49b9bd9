/**
 * Keep-alive after uploads and downloads (issue 8, defect 8): the next request on the same
 * connection is served at once, and firmware downloads carry Content-Length.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
let h: TestHub;
let admin: HubClient;

beforeAll(async () => {
  h = await startTestHub({ HUB_MAX_UPLOAD_BYTES: String(64 * 1024 * 1024) });
  admin = await h.connect(h.adminToken);
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One keep-alive connection (maxSockets 1), so every request after the first reuses it. */
function keepAliveClient() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let sockets = 0;
  const request = (method: string, path: string, token?: string, body?: Buffer, readDelayMs = 0) =>
    new Promise<Reply>((resolve, reject) => {
      const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
      const req = http.request(`${h.baseUrl}${path}`, { method, agent, headers, timeout: 5000 }, (res) => {
        const chunks: Buffer[] = [];
        const read = () => {
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.resume();
        };
        if (readDelayMs > 0) {
          res.pause();
          setTimeout(read, readDelayMs);
        } else read();
      });
      req.on('socket', () => {
        if (!req.reusedSocket) sockets++;
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
      req.on('error', reject);
      req.end(body);
    });
  return { request, sockets: () => sockets, close: () => agent.destroy() };
}

describe('keep-alive after files', () => {
  it('regression: serves the next request at once after a large upload (the socket was left paused)', async () => {
    const fw = await admin.request<Rec>('firmware_updates.create', { version: '3.0.0' });
    const c = keepAliveClient();
    for (let i = 0; i < 3; i++) {
      const up = await c.request('PUT', `/api/firmware_updates/${fw.public_id}/file`, h.adminToken, randomBytes(2_000_000 + i));
      expect(up.status).toBe(200);
      const health = await c.request('GET', '/healthz');
      expect(health.status).toBe(200);
    }
    expect(c.sockets()).toBe(1);
    c.close();
  });

  it('serves the next request at once after a download read slowly', async () => {
    const fw = await admin.request<Rec>('firmware_updates.create', { version: '3.0.1' });
    const bytes = randomBytes(8_000_000);
    const c = keepAliveClient();
    expect((await c.request('PUT', `/api/firmware_updates/${fw.public_id}/file`, h.adminToken, bytes)).status).toBe(200);
    for (const delay of [0, 300]) {
      const down = await c.request('GET', `/api/firmware_updates/${fw.public_id}/file`, h.adminToken, undefined, delay);
      expect(down.status).toBe(200);
      expect(down.body.equals(bytes)).toBe(true);
      expect((await c.request('GET', '/healthz')).status).toBe(200);
    }
    expect(c.sockets()).toBe(1);
    c.close();
  });

  it('serves the next request at once after a CSV export', async () => {
    const ev = await admin.request<Rec>('events.create', { name: `ka-${randomUUID()}`, unit: 'C' });
    const exp = await admin.request<Rec>('experiments.create', { name: `ka-exp-${randomUUID()}` });
    await admin.request('experiments.stop', { public_id: exp.public_id });
    await h.database.pool.query(
      `INSERT INTO datapoints (public_id, event_public_id, experiment_public_id, value, "timestamp")
       SELECT gen_random_uuid(), $1, $2, g, now() + g * interval '1 ms' FROM generate_series(1, 50000) g`,
      [ev.public_id, exp.public_id],
    );
    const c = keepAliveClient();
    for (const delay of [0, 300]) {
      const csv = await c.request('GET', `/api/experiments/${exp.public_id}/export.csv`, h.adminToken, undefined, delay);
      expect(csv.status).toBe(200);
      expect(csv.body.toString().split('\r\n').length).toBe(50_002);
      expect((await c.request('GET', '/healthz')).status).toBe(200);
    }
    expect(c.sockets()).toBe(1);
    c.close();
  });

  it('regression: sends Content-Length with a firmware download, not a chunked body', async () => {
    const fw = await admin.request<Rec>('firmware_updates.create', { version: '3.0.2' });
    const bytes = randomBytes(300_000);
    const c = keepAliveClient();
    expect((await c.request('PUT', `/api/firmware_updates/${fw.public_id}/file`, h.adminToken, bytes)).status).toBe(200);
    const down = await c.request('GET', `/api/firmware_updates/${fw.public_id}/file`, h.adminToken);
    expect(down.headers['content-length']).toBe('300000');
    expect(down.headers['transfer-encoding']).toBeUndefined();
    expect(down.body.equals(bytes)).toBe(true);
    c.close();
  });
});
