/**
 * Upload races and leftovers (issue 8, defect 7): the recorded hash and size always describe the
 * stored bytes, and temp files of a crashed hub are removed at start.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/client/hub-client.js';
import { startTestHub, type TestHub } from '../support/hub.js';

type Rec = Record<string, any>;
let h: TestHub;
let admin: HubClient;

beforeAll(async () => {
  h = await startTestHub();
  admin = await h.connect(h.adminToken);
});
afterAll(async () => {
  await admin?.close();
  await h?.stop();
});

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const put = (url: string, body: Uint8Array) => fetch(url, { method: 'PUT', headers: { authorization: `Bearer ${h.adminToken}` }, body });

describe('concurrent uploads to one record', () => {
  it('regression: the recorded sha256 and size always match the file served', async () => {
    for (let round = 0; round < 12; round++) {
      const fw = await admin.request<Rec>('firmware_updates.create', { version: `5.0.${round}` });
      const url = `${h.baseUrl}/api/firmware_updates/${fw.public_id}/file`;
      const bodies = [randomBytes(200_000 + round), randomBytes(300_000 + round), randomBytes(100_000 + round)];
      const statuses = await Promise.all(bodies.map(async (body) => (await put(url, body)).status));

      const record = await admin.request<Rec>('firmware_updates.get', { public_id: fw.public_id });
      const download = await fetch(url, { headers: { authorization: `Bearer ${h.adminToken}` } });
      const served = Buffer.from(await download.arrayBuffer());
      // Whichever upload won, record and bytes describe the same one.
      expect({ round, sha: sha256(served), size: served.length }).toEqual({ round, sha: record.file_hash_sha256, size: record.file_size_bytes });
      expect(bodies.some((b) => b.equals(served))).toBe(true);
      expect(statuses).toEqual([200, 200, 200]);
    }
    // Only the winners' files are kept: one per record, no temp files.
    const files = await readdir(path.join(h.dataDir, 'files', 'firmware'));
    expect(files.filter((f) => f.includes('.upload-'))).toEqual([]);
    expect(files).toHaveLength(12);
  });

  it('a second upload replaces the first and removes its file', async () => {
    const fw = await admin.request<Rec>('firmware_updates.create', { version: '5.1.0' });
    const url = `${h.baseUrl}/api/firmware_updates/${fw.public_id}/file`;
    expect((await put(url, randomBytes(1000))).status).toBe(200);
    const second = randomBytes(2000);
    expect(await (await put(url, second)).json()).toMatchObject({ file_size_bytes: 2000, file_hash_sha256: sha256(second) });
    const mine = (await readdir(path.join(h.dataDir, 'files', 'firmware'))).filter((f) => f.startsWith(fw.public_id as string));
    expect(mine).toHaveLength(1);
  });
});

describe('temp files of a crashed hub', () => {
  it('regression: are removed at start; stored files and a live process\'s temp files stay', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hub-it-crash-'));
    const firmware = path.join(dataDir, 'files', 'firmware');
    const plugins = path.join(dataDir, 'files', 'plugins');
    await mkdir(firmware, { recursive: true });
    await mkdir(plugins, { recursive: true });
    // A pid that surely belongs to no process any more: a child that has exited.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    const leftovers = [
      path.join(firmware, `0b7f0f4e-0000-4000-8000-000000000001.upload-${deadPid}-1700000000000`),
      path.join(plugins, `0b7f0f4e-0000-4000-8000-000000000002.upload-${deadPid}-1700000000001`),
    ];
    const kept = [
      path.join(firmware, '0b7f0f4e-0000-4000-8000-000000000003'),
      // An upload in progress in a process that is alive (another hub on the same directory).
      path.join(firmware, `0b7f0f4e-0000-4000-8000-000000000004.upload-${process.pid}-${Date.now()}`),
    ];
    for (const file of [...leftovers, ...kept]) await writeFile(file, 'partial');

    const crashed = await startTestHub({ HUB_DATA_DIR: dataDir });
    try {
      const left = [...(await readdir(firmware)).map((f) => path.join(firmware, f)), ...(await readdir(plugins)).map((f) => path.join(plugins, f))];
      expect(left.sort()).toEqual([...kept].sort());
    } finally {
      await crashed.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
