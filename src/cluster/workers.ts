/**
 * `HUB_WORKERS=N`: N hub processes on one machine and one port, run by a small primary process.
 *
 * Each worker is an ordinary hub (PROTOCOL.md §15: several hubs on one database and one NATS);
 * they all listen on the same address and port, which uWS binds with SO_REUSEPORT on Linux, so
 * the kernel spreads new connections over them. The primary serves no client. It
 * - starts the embedded PostgreSQL itself when DATABASE_URL is unset, so that the database
 *   outlives any one worker, and hands its URL to the workers;
 * - starts worker 1 alone first (migrations, first admin, secrets, the demo simulator), then the
 *   others with the demo off;
 * - with HUB_PORT=0 picks a free port itself: Linux does not let a second socket join a port
 *   that the kernel chose for the first (bound to port 0), even with SO_REUSEPORT on both;
 * - restarts a worker that dies, after a back-off that grows while it keeps dying;
 * - on SIGTERM or SIGINT tells every worker to stop (each drains its queue as a lone hub would),
 *   waits a bounded time, stops the embedded PostgreSQL and exits 0.
 * A worker whose primary disappears stops by itself (its IPC channel closes).
 */
import { childEnvironment } from '../config.js';
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded.js';

/** The argument the primary adds to a worker's command line. */
export const WORKER_FLAG = '--hub-worker';

/** What a worker tells its primary once it listens. */
export interface WorkerReady {
  readonly type: 'hub-ready';
  readonly port: number;
}

/** What the primary tells a worker. */
export interface WorkerStop {
  readonly type: 'hub-stop';
}

/** Is this process a worker started by {@link runWorkers}? */
export function isWorkerProcess(argv: readonly string[] = process.argv): boolean {
  return argv.includes(WORKER_FLAG) && typeof process.send === 'function';
}

/** In a worker: tells the primary that the hub listens on `port`. */
export function reportReady(port: number): void {
  const message: WorkerReady = { type: 'hub-ready', port };
  process.send?.(message);
}

/** In a worker: calls `stop` when the primary asks, or when the primary is gone. */
export function onPrimaryStop(stop: (why: string) => void): void {
  process.on('message', (message: unknown) => {
    if ((message as Partial<WorkerStop> | null)?.type === 'hub-stop') stop('primary');
  });
  process.on('disconnect', () => stop('primary gone'));
}

/** A restart waits this long, doubled for each death soon after a start, up to the maximum. */
const RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that lived this long before dying restarts after the first delay again. */
const STABLE_MS = 30_000;
/** How long the primary waits for its workers to stop (each hub bounds its own shutdown at 60 s). */
const STOP_DEADLINE_MS = 65_000;

interface Slot {
  readonly index: number;
  child: ChildProcess | undefined;
  startedAt: number;
  delayMs: number;
}

/**
 * The primary: runs `config.workers` workers until SIGTERM/SIGINT, then exits. Never returns.
 * `entry` and `args` are the program and arguments the workers run (this program's own).
 */
export async function runWorkers(config: Config, log: Logger, entry: string, args: readonly string[]): Promise<never> {
  const slots: Slot[] = Array.from({ length: config.workers }, (_, i) => ({ index: i + 1, child: undefined, startedAt: 0, delayMs: RESTART_DELAY_MS }));
  let stopping = false;
  let embedded: EmbeddedPostgres | undefined;
  let port = config.port;
  let databaseUrl = config.databaseUrl;

  const finish = async (code: number): Promise<never> => {
    await embedded?.stop().catch((err: unknown) => log.warn({ err }, 'stopping the embedded PostgreSQL failed'));
    process.exit(code);
  };
  const alive = (): ChildProcess[] => slots.flatMap((s) => (s.child !== undefined && s.child.exitCode === null && s.child.signalCode === null ? [s.child] : []));

  /** Stops every worker (bounded), then the database; exits with `code`, or 1 if a worker had to be killed. */
  const stopAll = async (code: number, why: string): Promise<never> => {
    stopping = true;
    log.info({ why, workers: alive().length }, 'stopping the hub workers');
    const children = alive();
    const exits = children.map((c) => new Promise<void>((resolve) => c.once('exit', () => resolve())));
    for (const c of children) tell(c, { type: 'hub-stop' });
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      Promise.all(exits).then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_DEADLINE_MS))),
    ]);
    clearTimeout(timer);
    if (late) {
      log.error('hub workers did not stop in time; killing them');
      for (const c of alive()) c.kill('SIGKILL');
    }
    log.info('stopped');
    return finish(late ? 1 : code);
  };

  // Ctrl-C reaches the whole process group: the workers ignore SIGINT and wait for our word.
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      log.warn({ signal }, 'second signal; killing the workers now');
      for (const c of alive()) c.kill('SIGKILL');
      void finish(1);
      return;
    }
    signalled = true;
    void stopAll(0, signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  if (port === 0) port = await freePort(config.host);
  if (databaseUrl === null) {
    embedded = await startEmbeddedPostgres(config.dataDir, log.child({ module: 'embedded-postgres' }));
    databaseUrl = embedded.url;
  }

  /** Starts the worker of `slot`; resolves with its port once it listens, or null if it exits first. */
  const start = (slot: Slot): Promise<number | null> => {
    const env = childEnvironment({
      DATABASE_URL: databaseUrl ?? '',
      HUB_WORKERS: '1',
      HUB_PORT: String(port),
      // One simulator for the whole machine: worker 1's (a restarted worker 1 runs it again).
      ...(slot.index === 1 ? {} : { HUB_DEMO: '0' }),
    });
    const child = fork(entry, [...args, WORKER_FLAG], { env, stdio: 'inherit' });
    slot.child = child;
    slot.startedAt = Date.now();
    return new Promise((resolve) => {
      let ready = false;
      child.on('message', (message: unknown) => {
        const m = message as Partial<WorkerReady> | null;
        if (m?.type !== 'hub-ready' || typeof m.port !== 'number') return;
        ready = true;
        log.info({ worker: slot.index, workerPid: child.pid, port: m.port }, 'hub worker listening');
        resolve(m.port);
      });
      child.on('exit', (code, signal) => {
        if (!ready) resolve(null);
        if (stopping || slot.child !== child) return;
        if (!ready && !started) return;
        const lived = Date.now() - slot.startedAt;
        slot.delayMs = lived > STABLE_MS ? RESTART_DELAY_MS : Math.min(slot.delayMs * 2, MAX_RESTART_DELAY_MS);
        log.warn({ worker: slot.index, workerPid: child.pid, code, signal, restartInMs: slot.delayMs }, 'hub worker died; restarting it');
        setTimeout(() => {
          if (!stopping) void start(slot);
        }, slot.delayMs).unref();
      });
    });
  };

  // Worker 1 alone first: it migrates, creates the first admin and the secrets, and picks the port.
  let started = false;
  for (const slot of slots) {
    const listening = await start(slot);
    if (stopping) return new Promise<never>(() => undefined);
    if (listening === null) {
      const code = slot.child?.exitCode ?? 1;
      log.fatal({ worker: slot.index, code }, 'a hub worker could not start; stopping the others');
      return stopAll(code === 0 ? 1 : code, 'start-up failed');
    }
    port = listening;
  }
  started = true;
  log.info({ workers: config.workers, port }, 'all hub workers listening');
  // The primary lives until a signal: stopAll exits the process.
  return new Promise<never>(() => undefined);
}

function tell(child: ChildProcess, message: WorkerStop): void {
  if (child.connected) child.send(message);
  else child.kill('SIGTERM');
}

/** A port free on `host` now (a short race with other programs is possible; HUB_PORT avoids it). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
