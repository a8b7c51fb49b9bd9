/**
 * The hub's one listening port: HTTP routes and (in later issues) the `/ws` socket, on uWS.
 * @see PROTOCOL.md §1
 */
import type { Logger } from 'pino';
import { HubError } from '../errors.js';
import { sendError, sendJson, trackAborted } from './http.js';
import { uws, type us_listen_socket } from './uws.js';

export interface QueueStats {
  depth: number;
  capacity: number;
}

export interface ServerDeps {
  readonly host: string;
  readonly port: number;
  readonly version: string;
  readonly log: Logger;
  /** Does the database answer? Must not throw. */
  readonly checkDatabase: () => Promise<boolean>;
  readonly queueStats: () => QueueStats;
}

export interface HubServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stops accepting connections. */
  close(): void;
}

/** The `/healthz` body (PROTOCOL.md §1). */
export interface Health {
  status: 'ok' | 'degraded';
  database: 'ok' | 'error';
  version: string;
  uptime_s: number;
  queue: QueueStats;
}

const started = Date.now();

/** Builds the uWS app, registers the routes and listens; resolves once bound. */
export async function startServer(deps: ServerDeps): Promise<HubServer> {
  const app = uws.App();

  app.get('/healthz', (res) => {
    const state = trackAborted(res);
    void deps.checkDatabase().then((databaseOk) => {
      const body: Health = {
        status: databaseOk ? 'ok' : 'degraded',
        database: databaseOk ? 'ok' : 'error',
        version: deps.version,
        uptime_s: Math.floor((Date.now() - started) / 1000),
        queue: deps.queueStats(),
      };
      sendJson(res, state, databaseOk ? 200 : 503, body, { 'cache-control': 'no-store' });
    });
  });

  app.any('/*', (res, req) => {
    const state = trackAborted(res);
    const url = req.getUrl();
    sendError(res, state, new HubError('not_found', `No route for ${req.getMethod().toUpperCase()} ${url.slice(0, 200)}`));
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(deps.host, deps.port, (socket) => {
      if (socket === false) reject(new Error(`cannot listen on ${deps.host}:${deps.port}`));
      else resolve(socket);
    });
  });
  const port = uws.us_socket_local_port(listenSocket);
  deps.log.info({ host: deps.host, port }, 'listening');
  let open = true;
  return {
    port,
    close: () => {
      if (!open) return;
      open = false;
      uws.us_listen_socket_close(listenSocket);
    },
  };
}
