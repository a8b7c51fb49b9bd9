/**
 * The single-hub guard (PROTOCOL.md §15): a second hub without NATS_URL on the same database
 * refuses to start (exit 2, naming NATS_URL); hubs that all have NATS_URL start side by side.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SingleHubError } from '../../src/cluster/single-hub-guard.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startHub, type Hub } from '../../src/main.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { spawnHub } from '../support/hub-process.js';
import { MACHINE_NATS_URL } from '../support/nats-server.js';

const dirs: string[] = [];
async function hubOn(db: TestDatabase, env: Record<string, string> = {}): Promise<Hub> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hub-guard-'));
  dirs.push(dir);
  return startHub(loadConfig({ DATABASE_URL: db.url, HUB_PORT: '0', HUB_DATA_DIR: dir, HUB_ADMIN_PASSWORD: 'guard-admin-password', ...env }), createLogger('silent'));
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('single-hub guard', () => {
  it('a second hub without NATS_URL refuses to start, in process and as a program (exit 2)', async () => {
    const first = await hubOn(db);
    try {
      await expect(hubOn(db)).rejects.toBeInstanceOf(SingleHubError);
      // A hub with NATS next to a lone hub would miss its clients just the same.
      await expect(hubOn(db, { NATS_URL: MACHINE_NATS_URL })).rejects.toBeInstanceOf(SingleHubError);
      const dir = await mkdtemp(path.join(tmpdir(), 'hub-guard-'));
      dirs.push(dir);
      const program = spawnHub({ env: { DATABASE_URL: db.url, HUB_DATA_DIR: dir, HUB_ADMIN_PASSWORD: 'guard-admin-password' } });
      expect(await program.exited).toBe(2);
      expect(program.output()).toMatch(/NATS_URL/);
    } finally {
      await first.stop();
    }
  }, 60_000);

  it('the lock goes with the hub: once it stops, another hub without NATS starts', async () => {
    const again = await hubOn(db);
    await again.stop();
  }, 30_000);

  it('hubs that all have NATS_URL start side by side', async () => {
    const a = await hubOn(db, { NATS_URL: MACHINE_NATS_URL });
    try {
      const b = await hubOn(db, { NATS_URL: MACHINE_NATS_URL });
      await b.stop();
      // ...and a lone hub is refused while one of them runs.
      await expect(hubOn(db)).rejects.toBeInstanceOf(SingleHubError);
    } finally {
      await a.stop();
    }
  }, 30_000);
});
