/**
 * `GET /ws`: the token is checked before the socket exists (401 otherwise); then each frame is
 * decoded, dispatched through the op registry and answered in its own encoding.
 *
 * Memory per socket is bounded: at most MAX_IN_FLIGHT requests run at once (more are answered
 * `429` at once), and a client that does not read its replies is closed by uWS when its unsent
 * bytes pass MAX_BACKPRESSURE.
 * @see PROTOCOL.md §1, §3, §4
 */
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { Principal } from '../auth/principal.js';
import type { Session, SessionRegistry } from '../auth/sessions.js';
import { CLOSE } from '../close-codes.js';
import { HubError, badRequest, toHubError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { decodeFrame, encodeMessage, type Encoding } from '../protocol/codec.js';
import { errorReply, okReply, parseRequest, type Outgoing, type RequestId } from '../protocol/envelope.js';
import type { ConnectionState, OpRegistry, PushTransport } from '../protocol/ops.js';
import { ConnectionLimits } from './connection-limits.js';
import { bearerToken, remoteAddress, sendError, trackAborted } from './http.js';
import { uws, type HttpResponse, type TemplatedApp, type WebSocket } from './uws.js';

/** Requests one socket may have running at once. */
export const MAX_IN_FLIGHT = 64;
/**
 * Requests one caller (user, or API token) may have running at once over all its sockets, for
 * the ops that work on the database's main pool: fewer than that pool's connections, so that no
 * one caller can hold all of them. Ingest (its own fair queue) and commands.send (which waits for
 * a device, holding no connection) are not counted.
 */
export const MAX_IN_FLIGHT_PER_CALLER = 8;
const UNCOUNTED_OPS: ReadonlySet<string> = new Set(['ingest', 'commands.send']);
/** Unsent bytes after which new requests are refused with 429 until the client reads. */
const SLOW_READER_BYTES = 1 << 20;
/** Unsent bytes after which uWS closes the socket: the hard bound on a socket's memory. */
export const MAX_BACKPRESSURE = 16 << 20;

/**
 * uWS drops a frame over its `maxPayloadLength` by cutting the TCP connection (the client sees
 * 1006), with no close frame. So uWS is given a larger bound and the hub checks the contract's
 * limit itself, closing with 1009 as PROTOCOL.md §4 says; only a frame past the larger bound
 * (2× the limit, at least the limit + 1 MiB) is cut without a close frame. The bound is also
 * what one socket can pin while a frame arrives, so it stays small: with the per-address and
 * per-user socket limits, it bounds what a caller can make the hub hold.
 */
export function transportFrameLimit(maxFrameBytes: number): number {
  return Math.min(Math.max(2 * maxFrameBytes, maxFrameBytes + (1 << 20)), 2 ** 31 - 1);
}

/**
 * Whether a handshake's `Connection` header has the `Upgrade` token (RFC 6455 §4.2.1: without it
 * the handshake is refused). uWS also marks a request whose `Connection` header is 5 characters
 * long (`close`) to be closed once answered, which around an upgrade shuts the new socket down.
 */
export function hasUpgradeToken(connection: string): boolean {
  return connection.split(',').some((token) => token.trim().toLowerCase() === 'upgrade');
}

/** What the socket hooks (`onOpen`, `onClose`, …) see of a socket. */
export interface SocketData {
  readonly principal: Principal;
  readonly log: Logger;
  readonly connection: ConnectionState;
  /** The connection's number (logs; device links). */
  readonly id: number;
  /** Pushes `{op, data}` in the encoding of its latest request; false when the socket is gone or too slow. */
  push(op: string, data: unknown): boolean;
}

/**
 * A socket's state, kept on its uWS user data, and its session in the registry. An idle hub
 * holds many thousands of these, so one is a single object with fields, and what an idle socket
 * never uses (its child logger, its connection map, its push channels) is made on first use.
 */
class SocketState implements SocketData, Session {
  /** Set at open; the socket is valid only while `open`. */
  ws: WebSocket<UserData> | undefined = undefined;
  open = false;
  inFlight = 0;
  /** The encoding of its latest request: unsolicited pushes (commands) use it. */
  lastEncoding: Encoding = 'json';
  /** Push channels of this socket, by encoding. */
  transports: Partial<Record<Encoding, PushTransport>> | undefined = undefined;
  private logger: Logger | undefined = undefined;
  private state: ConnectionState | undefined = undefined;

  constructor(
    readonly id: number,
    readonly principal: Principal,
    /** Its places in the connection limits (address, user or token), released at close. */
    readonly limitKeys: string[],
    private readonly parentLog: Logger,
  ) {}

  get log(): Logger {
    return (this.logger ??= this.parentLog.child({ conn: this.id, user: this.principal.user.public_id, role: this.principal.role }));
  }

  get connection(): ConnectionState {
    return (this.state ??= new Map());
  }

  push(op: string, data: unknown): boolean {
    const ws = this.ws;
    if (!this.open || ws === undefined || ws.getBufferedAmount() > SLOW_READER_BYTES) return false;
    send(ws, { op, data }, this.lastEncoding);
    return true;
  }

  close(code: number, reason: string): void {
    if (this.open) this.ws?.end(code, reason);
  }
}

/**
 * What uWS holds for a socket. uWS copies the own properties of the object given to `upgrade`
 * onto one of its own, so a class instance (its getters and methods) must go inside it.
 */
interface UserData {
  readonly state: SocketState;
}

/** Writes one message to an open socket. */
function send(ws: WebSocket<UserData>, message: Outgoing, encoding: Encoding): void {
  const data = ws.getUserData().state;
  if (!data.open) return;
  let frame: string | Uint8Array;
  try {
    frame = encodeMessage(message, encoding);
  } catch (err) {
    // A reply that cannot be encoded (a value too deep for the encoder, say) is a bug of
    // ours, answered as such: it must never escape as an unhandled rejection.
    data.log.error({ err, op: 'op' in message ? message.op : undefined }, 'reply could not be encoded');
    const id = 'id' in message ? message.id : null;
    frame = encodeMessage(errorReply(id, new HubError('internal')), encoding);
  }
  ws.cork(() => ws.send(frame, encoding === 'msgpack'));
}

export interface SocketDeps {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly authenticator: Authenticator;
  readonly sessions: SessionRegistry;
  readonly ops: OpRegistry;
  readonly maxFrameBytes: number;
  readonly maxSocketsPerUser: number;
  readonly maxSocketsPerAddress: number;
  /** Requests one caller may have in flight over all its sockets (default MAX_IN_FLIGHT_PER_CALLER). */
  readonly maxRequestsPerCaller?: number;
  /** Called when a socket opens, drains and closes (plugin instance status, subscriptions). */
  readonly onOpen?: (data: SocketData) => void;
  readonly onDrain?: (data: SocketData) => void;
  readonly onClose?: (data: SocketData) => void;
  /** Called for every frame (a device's presence: `last_seen_at`). Must be cheap. */
  readonly onFrame?: (data: SocketData) => void;
  /**
   * Looks at a frame before it is decoded: an error reply for it (request id and error) to send
   * instead of decoding it, or null (the ingest of a sender still told to wait). Must be cheap.
   */
  readonly refuseUndecoded?: (principal: Principal, frame: ArrayBuffer, isBinary: boolean) => { id: number; error: HubError } | null;
}

/** Counts requests in flight across all sockets, so shutdown can wait for them. */
export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];
  inc(): void {
    this.count++;
  }
  dec(): void {
    this.count--;
    if (this.count === 0) for (const resolve of this.waiters.splice(0)) resolve();
  }
  /** Resolves when nothing is in flight, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

let connectionCounter = 0;

/** Registers `/ws` on the app. */
export function registerSocket(app: TemplatedApp, deps: SocketDeps, inFlight: InFlight): void {
  const { log, metrics, sessions, ops } = deps;
  const limits = new ConnectionLimits((key) => (key.startsWith('addr|') ? deps.maxSocketsPerAddress : deps.maxSocketsPerUser));
  /** The open sockets: any of them lends its cork to an upgrade (see `upgradeLater`). */
  const openSockets = new Set<SocketState>();

  /**
   * Upgrades `res` after the asynchronous token check. Not inside its own `res.cork()`: in uWS
   * 20.45 (uWebSockets.js 20.30) that cork, once its handler returns, runs its HTTP
   * connection-close check on the socket it corked; the upgrade has shrunk that socket's memory in
   * place, so the check reads `HttpResponseData::state` from memory the new WebSocket no longer
   * owns, and when that memory was reused while the socket opened and the word has the "close"
   * bit, it shuts the new socket down: 1006 at both ends before its first request is read (uWS
   * upstream #1929). Inside another open socket's `ws.cork()` the loop's cork is that socket's,
   * so `res.cork()` only calls its handler: `res` is upgraded uncorked (its 101 written at once)
   * and no HTTP check follows; `res.cork()` is still what tells uWebSockets.js the write is meant
   * (it warns about an upgrade outside it). Uncorked, uWS would honour a `Connection: close` and
   * close the socket under the upgrade: such handshakes are refused first (`hasUpgradeToken`).
   * With no other socket open (a hub's first), the plain `res.cork()` remains.
   */
  const upgradeLater = (res: HttpResponse, upgrade: () => void): void => {
    const anchor = openSockets.values().next().value?.ws;
    if (anchor !== undefined) anchor.cork(() => res.cork(upgrade));
    else res.cork(upgrade);
  };
  const perCaller = deps.maxRequestsPerCaller ?? MAX_IN_FLIGHT_PER_CALLER;
  const callerRequests = new ConnectionLimits(() => perCaller);
  const tooMany = (what: string): HubError =>
    new HubError('rate_limited', `Too many open sockets for this ${what}; close some first`, { retryAfterMs: 5000 });

  const reject = (ws: WebSocket<UserData>, id: RequestId | null | undefined, err: HubError, encoding: Encoding, op: string): void => {
    metrics.requests.inc({ op, outcome: err.code });
    send(ws, errorReply(id, err), encoding);
  };

  app.ws<UserData>('/ws', {
    maxPayloadLength: transportFrameLimit(deps.maxFrameBytes),
    maxBackpressure: MAX_BACKPRESSURE,
    // The typings say number; uWS reads it as a boolean.
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    compression: uws.DISABLED,

    upgrade: (res, req, context) => {
      // Everything needed from `req` is copied now: it is invalid after the first await.
      const state = trackAborted(res);
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const token = bearerToken(req.getHeader('authorization'), req.getQuery() ?? '');
      if (!hasUpgradeToken(req.getHeader('connection'))) {
        metrics.httpRequests.inc({ route: '/ws', status: 400 });
        sendError(res, state, badRequest('A WebSocket handshake needs the Upgrade token in its Connection header'));
        return;
      }
      // Counted before the token is checked: a flood of upgrades from one address is bounded too.
      const addressKey = `addr|${remoteAddress(res)}`;
      if (!limits.tryAcquire(addressKey)) {
        metrics.httpRequests.inc({ route: '/ws', status: 429 });
        sendError(res, state, tooMany('address'));
        return;
      }
      deps.authenticator.authenticate(token).then(
        (principal) => {
          if (state.aborted) return limits.release(addressKey);
          // Login tokens count per user; API tokens (devices, scripts) each on their own.
          const userKey = principal.kind === 'login' ? `user|${principal.user.public_id}` : `token|${principal.tokenId}`;
          if (!limits.tryAcquire(userKey)) {
            limits.release(addressKey);
            metrics.httpRequests.inc({ route: '/ws', status: 429 });
            sendError(res, state, tooMany(principal.kind === 'login' ? 'user' : 'token'));
            return;
          }
          const data = new SocketState(++connectionCounter, principal, [addressKey, userKey], log);
          upgradeLater(res, () => res.upgrade<UserData>({ state: data }, key, protocol, extensions, context));
        },
        (err: unknown) => {
          limits.release(addressKey);
          metrics.httpRequests.inc({ route: '/ws', status: err instanceof HubError ? err.status : 500 });
          sendError(res, state, err);
        },
      );
    },

    open: (ws) => {
      const data = ws.getUserData().state;
      data.ws = ws;
      data.open = true;
      openSockets.add(data);
      sessions.add(data);
      metrics.connections.inc({ role: data.principal.role });
      // Guarded: the socket's child logger is made only when something is logged for it.
      if (log.isLevelEnabled('debug')) data.log.debug('socket open');
      deps.onOpen?.(data);
    },

    message: (ws, message, isBinary) => {
      const data = ws.getUserData().state;
      const encoding: Encoding = isBinary ? 'msgpack' : 'json';
      data.lastEncoding = encoding;
      deps.onFrame?.(data);
      if (message.byteLength > deps.maxFrameBytes) {
        ws.end(CLOSE.tooBig, 'frame over HUB_MAX_FRAME_BYTES');
        return;
      }
      const early = deps.refuseUndecoded?.(data.principal, message, isBinary);
      if (early !== undefined && early !== null) return reject(ws, early.id, early.error, encoding, 'ingest');
      // Decoded synchronously: uWS frees `message` when this callback returns.
      const decoded = decodeFrame(message, isBinary);
      if (!decoded.ok) {
        // RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection with 1007.
        if (decoded.invalidUtf8 === true) {
          ws.end(CLOSE.invalidPayload, 'text frame is not valid UTF-8');
          return;
        }
        return reject(ws, null, badRequest(decoded.reason), encoding, 'invalid');
      }
      const parsed = parseRequest(decoded.value);
      if (!parsed.ok) return reject(ws, parsed.id, parsed.error, encoding, 'invalid');
      const request = parsed.request;
      const opLabel = ops.has(request.op) ? request.op : 'unknown';
      if (data.inFlight >= MAX_IN_FLIGHT || ws.getBufferedAmount() > SLOW_READER_BYTES) {
        const err = new HubError('rate_limited', 'Too many requests in flight on this socket; read the replies and retry', {
          retryAfterMs: 100,
        });
        return reject(ws, request.id, err, encoding, opLabel);
      }
      const callerKey = UNCOUNTED_OPS.has(request.op) ? undefined : (data.limitKeys[1] ?? `conn|${data.id}`);
      if (callerKey !== undefined && !callerRequests.tryAcquire(callerKey)) {
        const err = new HubError('rate_limited', `Too many requests in flight for this caller (at most ${perCaller} over all its sockets); retry`, {
          retryAfterMs: 50,
        });
        return reject(ws, request.id, err, encoding, opLabel);
      }
      data.inFlight++;
      inFlight.inc();
      const started = performance.now();
      // One push channel per socket and encoding, made on first use (not per request).
      const transport = ((data.transports ??= {})[encoding] ??= {
        encoding,
        send: (frame: string | Uint8Array): boolean => {
          if (!data.open) return false;
          let status = 0;
          ws.cork(() => {
            status = ws.send(frame, encoding === 'msgpack');
          });
          return status !== 2;
        },
        bufferedAmount: (): number => (data.open ? ws.getBufferedAmount() : 0),
        close: (code: number, reason: string): void => {
          if (data.open) ws.end(code, reason);
        },
      });
      ops
        .dispatch(request, { principal: data.principal, log: data.log, encoding, connection: data.connection, transport })
        .then(
          (result) => {
            metrics.requests.inc({ op: opLabel, outcome: 'ok' });
            if (request.id !== undefined) send(ws, okReply(request.id, result ?? null), encoding);
          },
          (err: unknown) => {
            const hubError = toHubError(err);
            if (hubError.code === 'internal') data.log.error({ err, op: request.op }, 'op failed');
            reject(ws, request.id, hubError, encoding, opLabel);
          },
        )
        .finally(() => {
          metrics.requestSeconds.observe({ op: opLabel }, (performance.now() - started) / 1000);
          data.inFlight--;
          inFlight.dec();
          if (callerKey !== undefined) callerRequests.release(callerKey);
        })
        .catch((err: unknown) => data.log.error({ err, op: request.op }, 'answering a request failed'));
    },

    drain: (ws) => {
      deps.onDrain?.(ws.getUserData().state);
    },

    close: (ws, code) => {
      const data = ws.getUserData().state;
      data.open = false;
      openSockets.delete(data);
      for (const key of data.limitKeys.splice(0)) limits.release(key);
      sessions.remove(data);
      metrics.connections.dec({ role: data.principal.role });
      metrics.closedSockets.inc({ code: String(code) });
      if (log.isLevelEnabled('debug')) data.log.debug({ code }, 'socket closed');
      deps.onClose?.(data);
      data.ws = undefined;
    },
  });
}
