/**
 * The hub's one listening port: HTTP routes and (in later issues) the `/ws` socket, on uWS.
 * @see PROTOCOL.md §1
 */
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { SessionRegistry } from '../auth/sessions.js';
import { HubError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { OpRegistry } from '../protocol/ops.js';
import type { SsoService } from '../auth/sso/sso-service.js';
import { DASHBOARD_CSS, DASHBOARD_JS, dashboardHtml } from '../web/dashboard-page.js';
import type { FileService } from '../domain/files.js';
import { registerAuthRoutes } from './auth-routes.js';
import { registerFileRoutes } from './file-routes.js';
import { registerSsoRoutes } from './sso-routes.js';
import { loadWebFiles, PAGE_HEADERS, registerWebRoutes, webDir } from './web-routes.js';
import { sendError, sendJson, trackAborted } from './http.js';
import { CLOSE } from '../close-codes.js';
import { InFlight, registerSocket, type SocketDeps } from './socket.js';
import { uws, type us_listen_socket } from './uws.js';

export interface QueueStats {
  depth: number;
  capacity: number;
}

/** What the server needs: the socket's dependencies plus the HTTP routes'. */
export interface ServerDeps extends SocketDeps {
  readonly host: string;
  readonly port: number;
  readonly version: string;
  /** Does the database answer? Must not throw. */
  readonly checkDatabase: () => Promise<boolean>;
  /** The bus between hubs: `none` without NATS_URL (PROTOCOL.md §15). */
  readonly busState?: () => 'ok' | 'error' | 'none';
  readonly queueStats: () => QueueStats;
  readonly files: FileService;
  readonly maxUploadBytes: number;
  /** Single sign-on; undefined: off, and its routes answer 404. @see PROTOCOL.md §17 */
  readonly sso?: SsoService | undefined;
}

export interface HubServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stops accepting new connections; open sockets keep working (shutdown, first step). */
  stopListening(): void;
  /** Stops accepting, closes every socket with 1001 and waits (up to `graceMs`) for requests in flight. */
  close(graceMs?: number): Promise<void>;
}

/** The `/healthz` body (PROTOCOL.md §1). */
export interface Health {
  status: 'ok' | 'degraded';
  database: 'ok' | 'error';
  /** @see PROTOCOL.md §15 */
  bus: 'ok' | 'error' | 'none';
  version: string;
  uptime_s: number;
  queue: QueueStats;
}

const started = Date.now();

/** The page headers live with the web routes; re-exported for the tests and older imports. */
export { PAGE_HEADERS };

/** Builds the uWS app, registers the routes and listens; resolves once bound. */
export async function startServer(deps: ServerDeps): Promise<HubServer> {
  const app = uws.App();
  const inFlight = new InFlight();

  app.get('/healthz', (res) => {
    const state = trackAborted(res);
    void deps.checkDatabase().then((databaseOk) => {
      const bus = deps.busState?.() ?? 'none';
      const body: Health = {
        // NATS down: the hub still ingests and serves its own sockets, so 200, but degraded.
        status: databaseOk && bus !== 'error' ? 'ok' : 'degraded',
        database: databaseOk ? 'ok' : 'error',
        bus,
        version: deps.version,
        uptime_s: Math.floor((Date.now() - started) / 1000),
        queue: deps.queueStats(),
      };
      sendJson(res, state, databaseOk ? 200 : 503, body, { 'cache-control': 'no-store' });
    });
  });

  app.get('/metrics', (res) => {
    const state = trackAborted(res);
    void deps.metrics.render().then(
      (text) => {
        if (state.aborted) return;
        res.cork(() => res.writeStatus('200 OK').writeHeader('content-type', deps.metrics.contentType).end(text));
      },
      (err: unknown) => sendError(res, state, err),
    );
  });

  registerAuthRoutes(app, deps.authenticator, deps.sessions);
  if (deps.sso !== undefined) registerSsoRoutes(app, deps.sso);
  registerFileRoutes(app, { authenticator: deps.authenticator, files: deps.files, maxUploadBytes: deps.maxUploadBytes, log: deps.log });
  registerSocket(app, deps, inFlight);

  // The built web app (dist/webapp); without a build, the single-file page of src/web/ instead.
  const sso = deps.sso === undefined ? undefined : { providerName: deps.sso.providerName };
  const web = webDir();
  if (web !== undefined) registerWebRoutes(app, loadWebFiles(web, sso));
  else deps.log.warn('dist/webapp not built (npm run build:web): serving the minimal built-in page');
  const page = (path: string, contentType: string, body: string): void => {
    app.get(path, (res) => {
      res.writeStatus('200 OK').writeHeader('content-type', contentType).writeHeader('cache-control', 'no-cache');
      for (const [name, value] of Object.entries(PAGE_HEADERS)) res.writeHeader(name, value);
      res.end(body);
    });
  };
  if (web === undefined) {
    page('/', 'text/html; charset=utf-8', dashboardHtml(sso));
    page('/app.js', 'text/javascript; charset=utf-8', DASHBOARD_JS);
    page('/app.css', 'text/css; charset=utf-8', DASHBOARD_CSS);
  }

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
  let listening = true;
  const stopListening = (): void => {
    if (!listening) return;
    listening = false;
    uws.us_listen_socket_close(listenSocket);
  };
  let closing: Promise<void> | undefined;
  return {
    port,
    stopListening,
    close: (graceMs = 10_000) => {
      closing ??= (async () => {
        stopListening();
        deps.sessions.closeAll(CLOSE.goingAway, 'hub shutting down');
        await inFlight.idle(graceMs);
      })();
      return closing;
    },
  };
}
