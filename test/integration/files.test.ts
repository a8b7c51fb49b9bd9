/** Uploads, downloads and the CSV export over HTTP. @see PROTOCOL.md §1, §10 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
const LIMIT = 64 * 1024;
let h: TestHub;
let admin: HubClient;
let deviceToken: string;
let dataDir: string;

beforeAll(async () => {
  h = await startTestHub({ HUB_MAX_UPLOAD_BYTES: String(LIMIT) });
  dataDir = h.dataDir;
  admin = await h.connect(h.adminToken);
  const inst = await admin.request<Rec>('plugin_instances.create', { plugin_id: 'fw', instance_name: 'fw-dev' });
  deviceToken = (await admin.request<Rec>('api_tokens.create', { name: 'd', plugin_instance_public_id: inst.public_id })).token;
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

const put = (url: string, token: string, body: Uint8Array) =>
  fetch(url, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body });
const get = (url: string, token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } });

describe('firmware files', () => {
  it('streams an upload to disk, records sha256 and size, and serves it to admins and devices', async () => {
    const fw = await admin.request<Rec>('firmware_updates.create', { version: '2.0.0' });
    const bytes = randomBytes(50_000);
    const res = await put(`${h.baseUrl}/api/firmware_updates/${fw.public_id}/file`, h.adminToken, bytes);
    expect(res.status).toBe(200);
    const record = (await res.json()) as Rec;
    expect(record).toMatchObject({
      public_id: fw.public_id,
      has_file: true,
      file_size_bytes: 50_000,
      file_hash_sha256: createHash('sha256').update(bytes).digest('hex'),
    });
    expect(record).not.toHaveProperty('file_path');

    for (const token of [h.adminToken, deviceToken]) {
      const download = await get(`${h.baseUrl}/api/firmware_updates/${fw.public_id}/file`, token);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
    }
    const viewer = await h.userWithRole('viewer');
    expect((await get(`${h.baseUrl}/api/firmware_updates/${fw.public_id}/file`, viewer.token)).status).toBe(403);

    // Now it can be rolled out, and a device's check finds it.
    expect(await admin.request<Rec>('firmware_updates.apply', { public_id: fw.public_id })).toMatchObject({ status: 'applying' });
    const device = await h.connect(deviceToken);
    expect(await device.request<Rec>('firmware_updates.check')).toMatchObject({ public_id: fw.public_id, version: '2.0.0' });
    await device.close();
  });

  it('refuses an upload over HUB_MAX_UPLOAD_BYTES with 413 and keeps nothing of it', async () => {
    const fw = await admin.request<Rec>('firmware_updates.create', { version: '2.0.1' });
    const res = await put(`${h.baseUrl}/api/firmware_updates/${fw.public_id}/file`, h.adminToken, randomBytes(LIMIT + 1));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { status: 413, code: 'too_large' } });
    expect(await admin.request<Rec>('firmware_updates.get', { public_id: fw.public_id })).toMatchObject({ has_file: false });
    const left = await readdir(path.join(dataDir, 'files', 'firmware')).catch(() => []);
    expect(left.filter((f) => f.startsWith(fw.public_id as string))).toEqual([]);
  });

  it('refuses non-admins (403) and unknown records (404)', async () => {
    const fw = await admin.request<Rec>('firmware_updates.create', { version: '2.0.2' });
    const operator = await h.userWithRole('operator');
    expect((await put(`${h.baseUrl}/api/firmware_updates/${fw.public_id}/file`, operator.token, randomBytes(10))).status).toBe(403);
    const missing = randomUUID();
    const res = await put(`${h.baseUrl}/api/firmware_updates/${missing}/file`, h.adminToken, randomBytes(10));
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { message: `FirmwareUpdate '${missing}' not found` } });
    expect((await get(`${h.baseUrl}/api/firmware_updates/${fw.public_id}/file`, h.adminToken)).status).toBe(404);
    expect((await put(`${h.baseUrl}/api/firmware_updates/${fw.public_id}/file`, 'bad-token', randomBytes(10))).status).toBe(401);
  });
});

describe('keep-alive connections', () => {
  it('regression: a connection serves its next request after an upload, accepted or refused', async () => {
    const fw = await admin.request<Rec>('firmware_updates.create', { version: '2.1.0' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const request = (method: string, url: string, token: string, body?: Buffer) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(url, { method, agent, headers: { authorization: `Bearer ${token}` }, timeout: 5000 }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end(body);
      });
    const url = `${h.baseUrl}/api/firmware_updates/${fw.public_id}/file`;
    expect(await request('PUT', url, h.adminToken, randomBytes(100))).toBe(200);
    expect(await request('GET', url, h.adminToken)).toBe(200);
    expect(await request('PUT', url, 'bad-token', randomBytes(100))).toBe(401);
    expect(await request('GET', url, h.adminToken)).toBe(200);
    agent.destroy();
  });
});

describe('plugin package files', () => {
  it('uploads like firmware', async () => {
    const pkg = await admin.request<Rec>('plugin_packages.create', { package_name: 'drv', version: '1.0.0' });
    const bytes = randomBytes(1000);
    const res = await put(`${h.baseUrl}/api/plugin_packages/${pkg.public_id}/file`, h.adminToken, bytes);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ has_file: true, file_size_bytes: 1000 });
  });
});

describe('experiment CSV export', () => {
  it('streams RFC 4180 CSV ordered by timestamp, quoting what needs it', async () => {
    const ev = await admin.request<Rec>('events.create', { name: 'temp, "inner"\nline', unit: 'C' });
    const exp = await admin.request<Rec>('experiments.create', { name: 'csv-exp' });
    const ids = [randomUUID(), randomUUID()];
    await h.database.pool.query(
      `INSERT INTO datapoints (public_id, event_public_id, experiment_public_id, value, "timestamp") VALUES
        ($1, $3, $4, 2.5, '2026-01-01T00:00:02.000Z'), ($2, $3, $4, -1, '2026-01-01T00:00:01.250Z')`,
      [ids[0], ids[1], ev.public_id, exp.public_id],
    );
    const viewer = await h.userWithRole('viewer');
    const res = await get(`${h.baseUrl}/api/experiments/${exp.public_id}/export.csv`, viewer.token);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    const text = await res.text();
    const quoted = '"temp, ""inner""\nline"';
    expect(text).toBe(
      'timestamp,event_name,event_public_id,value,unit,datapoint_public_id\r\n' +
        `2026-01-01T00:00:01.250Z,${quoted},${ev.public_id},-1,C,${ids[1]}\r\n` +
        `2026-01-01T00:00:02.000Z,${quoted},${ev.public_id},2.5,C,${ids[0]}\r\n`,
    );
  });

  it('regression: neutralises spreadsheet formulas in text cells and keeps numbers numbers (OWASP CSV injection)', async () => {
    const running = await admin.request<Rec>('experiments.list', { filter: { stopped_on: null } });
    for (const item of running.items) await admin.request('experiments.stop', { public_id: item.public_id });
    const exp = await admin.request<Rec>('experiments.create', { name: 'csv-formulas' });
    await admin.request('experiments.stop', { public_id: exp.public_id });
    // Each text that a spreadsheet would run as a formula, with what the export must show.
    const cases: [name: string, unit: string, row: string][] = [
      ['=HYPERLINK("http://x","y")', 'C', `"'=HYPERLINK(""http://x"",""y"")",`],
      ['+1+2', '-3', "'+1+2"],
      ['@SUM(A1)', '@', "'@SUM(A1)"],
      ['\tcmd', '=1', "'\tcmd"],
      ['\rcr', '+', `"'\rcr"`],
      ['plain-name', 'mV', 'plain-name'],
    ];
    let ts = Date.parse('2026-02-01T00:00:00.000Z');
    const expected: string[] = [];
    for (const [name, unit, cell] of cases) {
      const ev = await admin.request<Rec>('events.create', { name, unit });
      const id = randomUUID();
      await h.database.pool.query(
        `INSERT INTO datapoints (public_id, event_public_id, experiment_public_id, value, "timestamp") VALUES ($1, $2, $3, -1.5, $4)`,
        [id, ev.public_id, exp.public_id, new Date(ts)],
      );
      const unitCell = /^[=+\-@\t\r]/.test(unit) ? `'${unit}` : unit;
      expected.push(`${new Date(ts).toISOString()},${cell.endsWith(',') ? cell.slice(0, -1) : cell},${ev.public_id},-1.5,${unitCell},${id}`);
      ts += 1000;
    }
    const res = await get(`${h.baseUrl}/api/experiments/${exp.public_id}/export.csv`, h.adminToken);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toBe(['timestamp,event_name,event_public_id,value,unit,datapoint_public_id', ...expected, ''].join('\r\n'));
  });

  it('answers 404 for an unknown experiment and 403 for a device', async () => {
    const missing = randomUUID();
    expect((await get(`${h.baseUrl}/api/experiments/${missing}/export.csv`, h.adminToken)).status).toBe(404);
    const exp = await admin.request<Rec>('experiments.list', {});
    expect((await get(`${h.baseUrl}/api/experiments/${exp.items[0].public_id}/export.csv`, deviceToken)).status).toBe(403);
  });
});
