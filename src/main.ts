/**
 * The composition root: config → database → services → server. The only module that wires the
 * others together. Run as a program it starts the hub and stops it cleanly on SIGINT/SIGTERM.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Authenticator } from './auth/authenticator.js';
import { ensureFirstAdmin } from './auth/first-admin.js';
import { JwtCodec } from './auth/jwt.js';
import { SsoService } from './auth/sso/sso-service.js';
import { SessionRegistry } from './auth/sessions.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import type { ResourceName } from './db/entities.js';
import { listenAll } from './db/notify.js';
import { LOG_CHANNEL, audit, logEntryFromNotice, readLogEntry } from './automation/audit.js';
import { ALERT_CHANNEL, RuleEngine } from './automation/rule-hook.js';
import { OutboxStore, listenOutbox } from './db/outbox-store.js';
import { createPool } from './db/pool.js';
import { SingleHubError, acquireSingleHubGuard } from './cluster/single-hub-guard.js';
import { relayRevocations } from './cluster/revocation-relay.js';
import { PresenceLeases } from './cluster/presence-leases.js';
import { ClusterCommandRouter } from './cluster/remote-commands.js';
import { isWorkerProcess, onPrimaryStop, reportReady, runWorkers } from './cluster/workers.js';
import { StorageMaintenance } from './db/storage-maintenance.js';
import { Catalog } from './ingest/catalog.js';
import { CopyWriter, DEFAULT_WRITER_OPTIONS } from './ingest/copy-writer.js';
import { IngestService } from './ingest/ingest-service.js';
import { IngestQueue, senderLimits } from './ingest/queue.js';
import { SequenceStore } from './ingest/sequences.js';
import { LiveService } from './live/live-service.js';
import { LocalBus, type LiveBus } from './live/bus.js';
import { NatsBus } from './live/bus-nats.js';
import { COMMIT_LOG_KEEP_MS, CommitLog, missedCommits, purgeCommitLog, readEpoch } from './db/commit-log.js';
import { buildOpRegistry } from './domain/all-ops.js';
import { startDemo } from './domain/demo.js';
import { FileStore } from './domain/file-store.js';
import { FIRMWARE_CHANNEL } from './domain/firmware.js';
import { DEFAULT_EXPORT_LIMITS, FileService } from './domain/files.js';
import { LocalCommandRouter, type CommandRouter } from './devices/commands.js';
import { DeviceLinks } from './devices/links.js';
import { DEVICE_CHANNEL, DevicePresence } from './devices/presence.js';
import { createRepositories } from './domain/resources.js';
import { OUTBOX_CHANNEL } from './automation/outbox.js';
import { WebhookSender } from './automation/sender.js';
import { createLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { readOrCreateSecret, writeSecretFile } from './secret-file.js';
import { startServer } from './server/server.js';
import { isNativeUws } from './server/uws.js';
import { VERSION } from './version.js';

export { VERSION };

export interface Hub {
  readonly port: number;
  readonly database: Database;
  /** The ops the socket serves. */
  readonly opNames: readonly string[];
  /** Stops accepting, finishes in-flight work, closes the database. Idempotent. */
  stop(): Promise<void>;
}

/** Starts every part of the hub; on any failure, stops what had started before rethrowing. */
export async function startHub(config: Config, log: Logger): Promise<Hub> {
  if (!isNativeUws()) {
    if (!config.allowUwsFallback) {
      throw new Error(
        'uWebSockets.js did not load its native addon and fell back to its slow JavaScript polyfill ' +
          '(this build needs Node.js 20 on glibc ≥ 2.36, x64 or arm64). Refusing to start; set ' +
          'HUB_ALLOW_UWS_FALLBACK=1 to run anyway at a fraction of the throughput.',
      );
    }
    log.warn('!!! uWebSockets.js runs on its JavaScript FALLBACK: throughput is a fraction of normal !!!');
  }

  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, log);
  // What has started, to stop in reverse order if a later step fails.
  const started: (() => Promise<void> | void)[] = [() => database.close()];
  const unwind = async (): Promise<void> => {
    for (const stop of started.splice(0).reverse()) await stop();
  };
  try {
    // Before anything else touches the database: alone without NATS, or every hub with it.
    const guard = await acquireSingleHubGuard(database.url, config.natsUrl !== null, log.child({ module: 'guard' }));
    started.push(() => guard.release());
    const admin = await ensureFirstAdmin(database.db, config.adminUsername, config.adminPassword, log);
    if (admin?.generatedPassword !== undefined) {
      // Printed once to the terminal (never the log), and kept in a file only this user can
      // read, so that it is not lost with the terminal's scrollback.
      const file = path.join(config.dataDir, 'secrets', 'first-admin-password');
      await writeSecretFile(file, `${admin.generatedPassword}\n`);
      process.stdout.write(
        `\n  First admin created: username "${admin.username}", password "${admin.generatedPassword}"\n` +
          `  Also written to ${file} (mode 0600): change the password after logging in, then delete that file.\n\n`,
      );
    }
    await audit.hubStarted(database.db, VERSION);
    // datapoints partitions ahead of now, and retention: now, then hourly (PROTOCOL.md §16).
    const storage = new StorageMaintenance(database.pool, {
      widthDays: config.partitionDays,
      retentionDays: config.retentionDays,
      log: log.child({ module: 'storage' }),
    });
    await storage.start();
    started.push(() => storage.stop());
    const metrics = new Metrics();
    const jwtSecret = config.jwtSecret ?? (await readOrCreateSecret(path.join(config.dataDir, 'secrets', 'jwt-secret')));
    const authenticator = new Authenticator(database.db, new JwtCodec(jwtSecret, config.jwtTtlSeconds), log.child({ module: 'auth' }));
    authenticator.afterLogin = (user) => audit.login(database.db, user);
    const sessions = new SessionRegistry();
    sessions.startSweep((principals) => authenticator.revokedAmong(principals), 1000, (err) =>
      log.warn({ err }, 'token revocation sweep failed'),
    );
    started.push(() => sessions.stopSweep());
    // Blacklisted JWTs are needed only until they would have expired anyway.
    const purge = setInterval(() => {
      authenticator.purgeBlacklist().catch((err: unknown) => log.warn({ err }, 'purging expired blacklist entries failed'));
    }, BLACKLIST_PURGE_MS);
    purge.unref();
    started.push(() => clearInterval(purge));
    await authenticator.purgeBlacklist().catch((err: unknown) => log.warn({ err }, 'purging expired blacklist entries failed'));

    // Ingest: catalog → queue → COPY writer on connections of its own.
    const catalog = new Catalog(database.db, log.child({ module: 'catalog' }));
    await catalog.load();
    // Several hubs (NATS_URL): committed batches cross to the hubs whose sockets watch them;
    // presence leases and commands cross on the same connection.
    const hubId = randomUUID();
    const natsBus = config.natsUrl === null ? undefined : new NatsBus({ url: config.natsUrl, hubId, log: log.child({ module: 'bus' }) });
    if (natsBus !== undefined) {
      await natsBus.start();
      started.push(() => natsBus.close());
    }
    // Devices: their sockets (links), presence, and the commands pushed to them.
    const deviceLinks = new DeviceLinks();
    const leases = natsBus === undefined ? undefined : new PresenceLeases(natsBus, hubId, log.child({ module: 'presence' }));
    const presence = new DevicePresence(database.db, deviceLinks, log.child({ module: 'presence' }), leases);
    await presence.start();
    // Commands: this hub's device sockets first; with NATS, the hub that holds one (request/reply).
    const localCommands = new LocalCommandRouter(deviceLinks);
    const commands: CommandRouter =
      natsBus === undefined ? localCommands : new ClusterCommandRouter(localCommands, deviceLinks, natsBus, log.child({ module: 'commands' }));
    if (commands instanceof ClusterCommandRouter) {
      presence.onFirstLink = (instance) => commands.linked(instance);
      presence.onLastLink = (instance) => commands.unlinked(instance);
    }
    // Rules, kept in memory like the catalog, run in the COPY writer's transactions.
    const rulesEngine = new RuleEngine(database.db, log.child({ module: 'rules' }));
    await rulesEngine.reload();
    metrics.ruleStats = () => ({ ...rulesEngine.stats, rules: rulesEngine.ruleCount });
    // The writer's transactions, plus one for reading seq marks.
    // Kept open when idle: a device's first message after a quiet spell would otherwise wait for
    // a connection to be made and authenticated.
    const copyPool = createPool(database.url, { max: DEFAULT_WRITER_OPTIONS.connections + 1, applicationName: 'telemetry-hub-copy', idleTimeoutMs: 0 });
    copyPool.on('error', (err) => log.warn({ err }, 'idle COPY connection lost'));
    started.push(() => copyPool.end());
    const queue = new IngestQueue(config.queueCapacity, senderLimits(config));
    metrics.queueStats = () => ({ depth: queue.depth, capacity: queue.capacity });
    // History queries and `since` replays on pools of their own, so that neither can take the
    // other's connections nor the main pool's (login, upgrades, CRUD).
    const livePool = createPool(database.url, { max: 4, applicationName: 'telemetry-hub-live', statementTimeoutMs: QUERY_TIMEOUT_MS });
    livePool.on('error', (err) => log.warn({ err }, 'idle live connection lost'));
    started.push(() => livePool.end());
    const replayPool = createPool(database.url, { max: MAX_REPLAYS, applicationName: 'telemetry-hub-replay', statementTimeoutMs: QUERY_TIMEOUT_MS });
    replayPool.on('error', (err) => log.warn({ err }, 'idle replay connection lost'));
    started.push(() => replayPool.end());
    const bus: LiveBus = natsBus ?? new LocalBus();
    if (natsBus !== undefined) {
      relayRevocations(natsBus, sessions, log.child({ module: 'revocation' }));
      metrics.busStats = () => ({ ...natsBus.stats, up: natsBus.state === 'ok', gapFill: natsBus.gapFillStats });
    }
    const live = new LiveService(
      livePool,
      catalog,
      config.subscriberBufferBytes,
      log.child({ module: 'live' }),
      { pool: replayPool, maxConcurrent: MAX_REPLAYS, stallMs: config.replayStallMs },
      bus,
      config.pushIntervalMs,
    );
    await live.reloadLatest();
    metrics.liveStats = () => ({ ...live.fanout.stats, subscriptions: live.fanout.subscriptions });
    const writer = new CopyWriter(copyPool, queue, new SequenceStore(), catalog, metrics, log.child({ module: 'copy' }), (points, epoch) =>
      live.committed(points, epoch),
    );
    writer.commitHook = rulesEngine;
    metrics.ingestStages = () => writer.trace.take();
    metrics.catalogStats = () => catalog.fullReads;
    if (natsBus !== undefined) {
      // Several hubs: commits are logged so that each hub can read back what a bus outage hid.
      writer.commitLog = await CommitLog.open(database.pool, hubId);
      natsBus.enableGapFill(
        { readEpoch: () => readEpoch(livePool), missed: (q, onChunk) => missedCommits(livePool, q, onChunk) },
        (events) => live.missedAcrossHubs(events),
        COMMIT_LOG_KEEP_MS,
      );
      const purgeCommits = setInterval(() => {
        purgeCommitLog(livePool).catch((err: unknown) => log.warn({ err }, 'purging the commit log failed'));
      }, 60_000);
      purgeCommits.unref();
      started.push(() => clearInterval(purgeCommits));
    }
    writer.start();
    started.push(async () => void (await writer.drain(0)));
    // What any hub's transactions announce by NOTIFY: catalog and rule changes, alerts, log entries.
    const listener = listenAll(
      database.url,
      {
        hub_catalog: (table) => void reloadCatalog(catalog, rulesEngine, table, log),
        [ALERT_CHANNEL]: (payload) => live.topics.publish('alerts', 'alert', JSON.parse(payload)),
        [FIRMWARE_CHANNEL]: (payload) => live.topics.publish('firmware', 'firmware', JSON.parse(payload)),
        [DEVICE_CHANNEL]: (payload) => live.topics.publish('devices', 'device', JSON.parse(payload)),
        [LOG_CHANNEL]: (payload) =>
          void logEntryFromNotice(payload, (id) => readLogEntry(database.db, id)).then(
            (record) => live.topics.publish('log_entries', 'log_entry', record),
            (err: unknown) => log.warn({ err }, 'a new log entry could not be pushed'),
          ),
      },
      async () => {
        await Promise.all([
          catalog.load().catch((err: unknown) => log.warn({ err }, 'catalog reload failed')),
          rulesEngine.reload().catch((err: unknown) => log.warn({ err }, 'rules reload failed')),
        ]);
      },
      log,
    );
    started.push(() => listener.close());
    // What changed between the first reads above and the LISTEN was never announced: the hub
    // reads it again once LISTEN is in effect, and serves only after that (bounded).
    await Promise.race([listener.ready, new Promise((r) => setTimeout(r, 10_000).unref())]);
    const ingest = new IngestService(queue, writer, catalog, metrics, config.maxBatchPoints);

    const repos = createRepositories(database.db);
    const fileStore = new FileStore(path.join(config.dataDir, 'files'));
    const removedTemp = await fileStore.cleanTemp();
    if (removedTemp > 0) log.info({ removed: removedTemp }, 'removed temp upload files of a hub that stopped mid-upload');
    // CSV exports last as long as their client reads: a small pool of their own, never the main pool's.
    const exportLimits = { ...DEFAULT_EXPORT_LIMITS, stallMs: config.exportStallMs, waitMs: config.exportWaitMs, maxMs: config.exportMaxMs };
    const exportPool = createPool(database.url, { max: exportLimits.total, applicationName: 'telemetry-hub-export' });
    exportPool.on('error', (err) => log.warn({ err }, 'idle export connection lost'));
    started.push(() => exportPool.end());
    const ops = buildOpRegistry({
      db: database.db,
      repos,
      sessions,
      authenticator,
      log,
      removeFile: (file) => fileStore.remove(file),
      changed: async (resource) => {
        // The write has committed: a cache that cannot follow now (database busy) is logged and
        // caught up by the next change or NOTIFY, never reported to the client as a failed write.
        try {
          await catalogChanged(catalog, resource);
          if (resource === 'rules' || resource === 'webhooks') await rulesEngine.reload();
          if (resource === 'datapoints' || resource === 'events') await live.reloadLatest();
        } catch (err) {
          log.warn({ err, resource }, 'a cache could not follow a committed write');
        }
      },
      ingest,
      live,
      commands,
      allowPrivateWebhooks: config.webhookAllowPrivate,
    });

    // Webhooks: the sender leases due outbox rows on a pool of its own, woken by the NOTIFY
    // that commits with a cause's deliveries; rows left pending by an earlier run go first.
    const webhookPool = createPool(database.url, { max: 2, applicationName: 'telemetry-hub-webhooks', statementTimeoutMs: QUERY_TIMEOUT_MS });
    webhookPool.on('error', (err) => log.warn({ err }, 'idle webhook connection lost'));
    started.push(() => webhookPool.end());
    const outbox = new OutboxStore(webhookPool);
    const webhookLog = log.child({ module: 'webhooks' });
    const sender = new WebhookSender({
      store: outbox,
      subscribe: (wake) => listenOutbox(database.url, OUTBOX_CHANNEL, wake, webhookLog),
      log: webhookLog,
      metrics,
      maxAttempts: config.webhookMaxAttempts,
      allowPrivate: config.webhookAllowPrivate,
      concurrency: config.webhookConcurrency,
    });
    metrics.outboxStats = () => outbox.stats();
    sender.start();
    started.push(() => sender.stop(0));

    const server = await startServer({
      host: config.host,
      port: config.port,
      version: VERSION,
      log: log.child({ module: 'server' }),
      checkDatabase: () => database.ping(),
      busState: () => natsBus?.state ?? 'none',
      queueStats: () => ({ depth: queue.depth, capacity: queue.capacity }),
      metrics,
      authenticator,
      sessions,
      ops,
      maxFrameBytes: config.maxFrameBytes,
      maxSocketsPerUser: config.maxSocketsPerUser,
      maxSocketsPerAddress: config.maxSocketsPerAddress,
      maxRequestsPerCaller: config.maxRequestsPerCaller,
      files: new FileService(database, repos, fileStore, { pool: exportPool, limits: exportLimits }),
      maxUploadBytes: config.maxUploadBytes,
      sso:
        config.oidc === null
          ? undefined
          : new SsoService({
              config: config.oidc,
              db: database.db,
              authenticator,
              sessions,
              metrics,
              log: log.child({ module: 'sso' }),
              secret: jwtSecret,
              localOnlyUsername: config.adminUsername,
            }),
      onOpen: (socket) => {
        const instance = socket.principal.pluginInstancePublicId;
        if (instance !== null) presence.opened({ id: socket.id, instance, push: (op, data) => socket.push(op, data) });
      },
      onFrame: (socket) => {
        if (socket.principal.pluginInstancePublicId !== null) presence.seen(socket.principal.pluginInstancePublicId);
      },
      refuseUndecoded: (principal, frame, isBinary) => ingest.refuseUndecoded(principal, frame, isBinary),
      onDrain: ({ connection }) => live.drained(connection),
      onClose: (socket) => {
        live.closed(socket.connection);
        commands.senderClosed(socket.connection);
        const instance = socket.principal.pluginInstancePublicId;
        if (instance !== null) presence.closed({ id: socket.id, instance, push: () => false });
      },
    });

    const demo = config.demo ? await startDemo(database.db, ingest, { presence, commands }, log.child({ module: 'demo' })) : undefined;
    let stopping: Promise<void> | undefined;
    return {
      port: server.port,
      database,
      opNames: ops.names(),
      stop: () => {
        stopping ??= (async () => {
          // No new sockets, no new ingest; what is queued is committed and acknowledged while
          // the sockets are still open; then the sockets close with 1001.
          server.stopListening();
          demo?.stop();
          ingest.stopAccepting();
          // Webhook attempts in flight get their 10 s to finish; nothing new is claimed.
          const webhooksStopped = sender.stop();
          const drained = await writer.drain(DRAIN_TIMEOUT_MS);
          if (!drained) log.warn({ points: queue.depth }, 'shutdown: the ingest queue did not drain in time; those points were never acknowledged');
          await server.close();
          // The devices' sockets are closed: their instances go offline, recorded before the database closes.
          await presence.stop();
          await webhooksStopped;
          await unwind();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

/** How often blacklist entries of expired tokens are dropped. */
const BLACKLIST_PURGE_MS = 3_600_000;
/** `since` replays running at once (each holds a connection of the replay pool). */
const MAX_REPLAYS = 3;
/** History queries and replay reads are cancelled by PostgreSQL past this. */
const QUERY_TIMEOUT_MS = 30_000;
/** How long shutdown waits for the ingest queue to be written. */
const DRAIN_TIMEOUT_MS = 30_000;
/** After this, the process exits whatever is still running. */
const SHUTDOWN_DEADLINE_MS = 60_000;

/** The catalog parts that follow each resource's writes. */
function catalogChanged(catalog: Catalog, resource: ResourceName): Promise<void> {
  switch (resource) {
    case 'events':
      return catalog.reload('events');
    case 'channel_mappings':
    case 'plugin_instances':
      return catalog.reload('channel_mappings');
    case 'experiments':
      return catalog.reload('experiments');
    default:
      return Promise.resolve();
  }
}

/** A NOTIFY on hub_catalog: rules and webhooks name their table; the rest is the ingest catalog's (rows, a table, a marker). */
async function reloadCatalog(catalog: Catalog, rulesEngine: RuleEngine, payload: string, log: Logger): Promise<void> {
  if (payload === 'rules' || payload === 'webhooks') {
    await rulesEngine.reload().catch((err: unknown) => log.warn({ err, table: payload }, 'rules reload failed'));
    return;
  }
  catalog.notified(payload);
}

/** The program: `npm start` / `node dist/main.js`. */
async function run(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(undefined, { demoByDefault: process.argv.includes("--demo-by-default") });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  const log = createLogger(config.logLevel);
  // HUB_WORKERS=N: this process only runs N hub processes on the same port (src/cluster/workers.ts).
  if (config.workers > 1) await runWorkers(config, log, process.argv[1] ?? '', process.argv.slice(2));
  const worker = isWorkerProcess();

  // A signal during start-up waits for start-up to finish (or fail), then stops what started.
  let hub: Hub | undefined;
  let stopRequested = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopRequested) {
      // A second signal: the operator does not want to wait.
      log.warn({ signal }, 'second signal; exiting now');
      process.exit(1);
    }
    stopRequested = true;
    log.info({ signal }, 'shutting down');
    // Shutdown is bounded: drain (30 s) and sockets (10 s), then the database; never a hang.
    setTimeout(() => {
      log.error('shutdown did not finish in time; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    await hub?.stop();
    log.info('stopped');
    process.exit(0);
  };
  // A rejection nobody handled is a bug of ours; one request's bug must not end the process
  // that every other client depends on. It is logged (and counted) instead.
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'unhandled rejection (a bug): logged, the hub goes on');
  });
  // A worker's Ctrl-C reaches its primary too, which tells it to stop: one stop, not two.
  process.on('SIGINT', () => void (worker ? undefined : stop('SIGINT')));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  if (worker) onPrimaryStop((why) => void (stopRequested ? undefined : stop(why)));

  try {
    hub = await startHub(config, log);
  } catch (err) {
    if (err instanceof SingleHubError) {
      log.fatal(err.message);
      process.stderr.write(`${err.message}\n`);
      process.exit(err.exitCode);
    }
    log.fatal({ err }, 'the hub could not start');
    process.exit(1);
  }
  if (stopRequested) {
    await hub.stop();
    process.exit(0);
  }
  if (worker) reportReady(hub.port);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await run();
}
