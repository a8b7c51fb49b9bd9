/**
 * The `hub` command line end to end against a real hub: log in, create records, tail while a
 * CSV is ingested, export the experiment and compare, list/get, and a command to a device.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubClient } from '../../packages/client/src/index.js';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from '../support/hub.js';
import { ROOT } from '../support/hub-process.js';

const run = promisify(execFile);
const BIN = path.join(ROOT, 'packages/cli/bin/hub.js');
let hub: TestHub;
let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  // The CLI runs compiled (as `npx hub` does); `tsc -b` rebuilds only what changed.
  const built = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'packages/cli'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`building the CLI failed:\n${built.stdout}${built.stderr}`);
  hub = await startTestHub();
  dir = await mkdtemp(path.join(tmpdir(), 'hub-cli-'));
  env = { ...process.env, HUB_URL: hub.baseUrl, HUB_TOKEN: '', HUB_TOKEN_FILE: path.join(dir, 'token') };
}, 180_000);

afterAll(async () => {
  await hub?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function hubCli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, ...args], { env, timeout: 60_000 });
}

describe('the hub CLI', () => {
  it('logs in, ingests a CSV while tail watches, exports it again, lists and gets, and sends a command', async () => {
    const login = await hubCli('login', '-u', 'admin', '-p', ADMIN_PASSWORD);
    expect(login.stdout.trim()).toMatch(/^ey/);
    expect((await readFile(path.join(dir, 'token'), 'utf8')).trim()).toBe(login.stdout.trim());

    const event = JSON.parse((await hubCli('create', 'events', 'name=cli-temp', 'unit=C')).stdout) as { public_id: string; name: string };
    expect(event.name).toBe('cli-temp');
    const experiment = JSON.parse((await hubCli('create', 'experiments', 'name=cli-run')).stdout) as { public_id: string };

    // tail (by name, from the start) runs while the CSV is ingested, and stops after 200 points.
    const tail = spawn(process.execPath, [BIN, '--json', 'tail', 'cli-temp', '--since', '0', '--count', '200'], { env });
    let tailOut = '';
    tail.stdout.on('data', (c: Buffer) => (tailOut += c.toString()));
    const tailExit = new Promise<number | null>((resolve) => tail.on('exit', resolve));

    const t0 = Date.now() - 10 * 60_000;
    const rows = Array.from({ length: 200 }, (_, i) => ({ ts: t0 + i * 1000, value: Math.round(i * 1.5 * 100) / 100 }));
    const csv = path.join(dir, 'points.csv');
    await writeFile(csv, `event,value,ts\n${rows.map((r) => `cli-temp,${r.value},${r.ts}`).join('\n')}\n`);
    const ingested = await hubCli('ingest', csv);
    expect(ingested.stdout.trim()).toBe('acked 200 of 200 points');

    expect(await tailExit).toBe(0);
    const tailed = tailOut.trim().split('\n').map((l) => JSON.parse(l) as { event: string; ts: number; value: number });
    expect(tailed.map((p) => [p.ts, p.value])).toEqual(rows.map((r) => [r.ts, r.value]));
    expect(new Set(tailed.map((p) => p.event))).toEqual(new Set([event.public_id]));

    // export by name to a file: the same points, in time order.
    const out = path.join(dir, 'export.csv');
    await hubCli('export', 'cli-run', '-o', out);
    const lines = (await readFile(out, 'utf8')).trim().split(/\r?\n/);
    expect(lines[0]).toBe('timestamp,event_name,event_public_id,value,unit,datapoint_public_id');
    const exported = lines.slice(1).map((l) => l.split(','));
    expect(exported.map((f) => [Date.parse(f[0] as string), Number(f[3])])).toEqual(rows.map((r) => [r.ts, r.value]));
    // and what was exported can be ingested again, here as NDJSON to another event.
    const copy = JSON.parse((await hubCli('create', 'events', 'name=cli-copy')).stdout) as { public_id: string };
    const ndjson = path.join(dir, 'copy.ndjson');
    await writeFile(ndjson, exported.map((f) => JSON.stringify({ event: 'cli-copy', value: Number(f[3]), ts: f[0] })).join('\n'));
    expect(JSON.parse((await hubCli('--json', 'ingest', ndjson)).stdout)).toEqual({ read: 200, acked: 200, failed: 0 });

    const listed = JSON.parse((await hubCli('list', 'events', '--filter', 'name=cli-copy')).stdout) as { total: number; items: { public_id: string }[] };
    expect(listed.total).toBe(1);
    expect(listed.items[0]?.public_id).toBe(copy.public_id);
    const got = JSON.parse((await hubCli('get', 'experiments', experiment.public_id)).stdout) as { name: string };
    expect(got.name).toBe('cli-run');

    // send-command: a device socket answers.
    const instance = JSON.parse((await hubCli('create', 'plugin_instances', 'plugin_id=cli', 'instance_name=cli-device')).stdout) as { public_id: string };
    const token = (JSON.parse((await hubCli('create', 'api_tokens', 'name=cli-device', `plugin_instance_public_id=${instance.public_id}`)).stdout) as { token: string }).token;
    const device = await HubClient.connect({ url: hub.wsUrl, token });
    device.onPush((push) => {
      if (push.op !== 'command') return;
      const data = push.data as { command_id: string; name: string; payload: unknown };
      void device.call('commands.reply', { command_id: data.command_id, ok: true, result: { echo: data.payload, name: data.name } });
    });
    const answered = JSON.parse((await hubCli('send-command', 'cli-device', 'ping', '--payload', '{"n":7}')).stdout) as { result: unknown };
    expect(answered.result).toEqual({ echo: { n: 7 }, name: 'ping' });
    await device.close();

    // errors: a typed hub error, exit code 1; usage, exit code 2.
    await expect(hubCli('get', 'events', '00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('404 not_found') });
    await expect(hubCli('frobnicate')).rejects.toMatchObject({ code: 2 });
  }, 180_000);
});
