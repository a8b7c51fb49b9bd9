/** A private nats-server per test file, on a free port, that a test may stop and start again. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const NATS_BINARY = process.env.NATS_SERVER_BIN ?? 'nats-server';
/** The machine's NATS (with JetStream), for tests that never stop it. */
export const MACHINE_NATS_URL = 'nats://127.0.0.1:4222';

export interface TestNats {
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL: no goodbye to the clients). */
  kill(): Promise<void>;
  /** Starts it again on the same port (and the same JetStream directory). */
  start(): Promise<void>;
  /** Kills it and removes its directory. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitListening(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nats-server exited (${child.exitCode}): ${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${port}: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a nats-server on a free port; `jetstream` gives it a store in a temp directory. */
export async function startTestNats(options: { jetstream?: boolean } = {}): Promise<TestNats> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'nats-it-'));
  let child: ChildProcess | undefined;
  let out = '';
  const start = async (): Promise<void> => {
    const args = ['-a', '127.0.0.1', '-p', String(port)];
    if (options.jetstream === true) args.push('-js', '-sd', dir);
    out = '';
    const c = spawn(NATS_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    child = c;
    await waitListening(port, c, () => out);
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    kill,
    start,
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
