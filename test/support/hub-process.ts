/** Runs the hub as its own process, as `npm start` would, and reads its log for the port. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface HubProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly baseUrl: string;
  /** Everything written so far to stdout and stderr. */
  output(): string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  /** `src` runs src/main.ts through tsx; `dist` runs the build. */
  entry?: 'src' | 'dist';
  timeoutMs?: number;
}

/** Starts a hub process and the program's exit code, without waiting for it to listen. */
export function spawnHub(options: SpawnOptions = {}): { child: ChildProcess; exited: Promise<number | null>; output(): string } {
  const args =
    options.entry === 'dist'
      ? [path.join(ROOT, 'dist/main.js')]
      : ['--import', 'tsx', path.join(ROOT, 'src/main.ts')];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, HUB_PORT: '0', HUB_LOG_LEVEL: 'info', DATABASE_URL: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

/** Starts a hub and resolves once it logs `listening`. */
export async function startHubProcess(options: SpawnOptions = {}): Promise<HubProcess> {
  const { child, exited, output } = spawnHub(options);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not listen in time:\n${output()}`)), options.timeoutMs ?? 30_000);
    const check = (): void => {
      const match = output().match(/"port":(\d+),"msg":"listening"/);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`hub exited with ${code} before listening:\n${output()}`));
    });
  });
  return {
    child,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    output,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
