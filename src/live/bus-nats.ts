/**
 * The live bus across hubs, on NATS (PROTOCOL.md §15). Interest-based, like centrifuge's
 * `Broker.Subscribe(channels…)`: a hub subscribes to `<prefix>.live.<event>` only while one of
 * its own sockets watches that event, so NATS traffic grows with interest, not with the number
 * of hubs. Each committed batch is published once per event it touches (MessagePack:
 * `{h: hub id, e: commit epoch, p: [[ts, value], ...]}`), right after COMMIT, on the hub's one
 * NATS connection: NATS keeps one publisher's order per subject, so the points of one event
 * committed at one hub arrive everywhere in that hub's commit order.
 *
 * Local subscribers are served directly (no round trip through NATS), as by the in-process
 * bus; a hub drops its own messages when NATS echoes them back. A remote batch carries its
 * commit epoch (`ingest_epoch`, one global counter that every COPY transaction increments, so
 * epochs follow commit order across all hubs): the `since` hand-over compares it with the
 * replay's snapshot epoch exactly as it does for local batches.
 *
 * While NATS is unreachable the hub keeps ingesting and serving its own sockets; `state` is
 * `error` (for /healthz) and comes back to `ok` when the client reconnects. Nothing is queued
 * for NATS meanwhile (memory would grow with the outage).
 *
 * The gap of an outage is filled from PostgreSQL (gap-fill.ts, with the commit log of
 * src/db/commit-log.ts): every hub publishes a `mark` each second (the epoch of its last
 * published commit), says `resync` first thing when its connection comes back, and reads back
 * the other hubs' commits it is owed when its own connection comes back, on another hub's
 * resync, while a hub's marks are overdue (or its own link is down), and every minute. JetStream
 * was not simpler: a hub cut off from NATS cannot publish into it either, and PostgreSQL has
 * every commit anyway.
 * @see PROTOCOL.md §7, §15
 */
import { connect, headers, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { pack, unpack } from 'msgpackr';
import type { Logger } from 'pino';
import type { LiveBus } from './bus.js';
import type { LiveBatch, Point } from './fanout.js';
import { GapFill, type GapFillStats, type MissedCommitsSource } from './gap-fill.js';

/** Subjects of one deployment start with this (several deployments may share one NATS). */
export const DEFAULT_SUBJECT_PREFIX = 'telemetry-hub';

/** What goes over NATS for one event of one committed batch. */
interface WireBatch {
  /** The publishing hub. */
  h: string;
  /** The batch's commit epoch. */
  e: number;
  p: Point[];
  /** When it was published (ms), for the lag metric. */
  t: number;
}

export type BusState = 'ok' | 'error';

export interface NatsBusOptions {
  readonly url: string;
  /** This hub's id (unique per process): its own messages are dropped when they come back. */
  readonly hubId: string;
  readonly log: Logger;
  readonly subjectPrefix?: string;
  /** How long start() waits for the first connection before the hub starts without it. */
  readonly connectWaitMs?: number;
}

export interface BusStats {
  published: number;
  received: number;
  /** Remote batches received, by how long after their publication (ms, sum and count). */
  lagMsSum: number;
  reconnects: number;
}

/** How often a hub publishes its mark (the epoch of its last published commit). */
const MARK_MS = 1000;
/** A hub whose mark is this late is read from PostgreSQL (cut off, or dead). */
const MARK_OVERDUE_MS = 3000;
/** ... and forgotten after this long (dead, most likely; the minute's fill still reads it). */
const MARK_FORGET_MS = 60_000;
/** While the bus is down, other hubs' commits are read from PostgreSQL this often. */
const POLL_WHILE_DOWN_MS = 2000;
/** A fill every so often keeps the bounds fresh (and catches what nothing else triggered). */
const ROUTINE_FILL_MS = 60_000;

export class NatsBus implements LiveBus {
  private readonly handlers: ((batch: LiveBatch) => void)[] = [];
  private readonly stateHandlers: ((state: BusState) => void)[] = [];
  private readonly watched = new Map<string, Subscription | null>();
  private nc: NatsConnection | undefined;
  /** Control subscriptions waiting for the first connection. */
  private readonly controls: ((nc: NatsConnection) => void)[] = [];
  private closed = false;
  private current: BusState = 'error';
  private gapFill: GapFill | undefined;
  /** The epoch of the last commit this hub published. */
  private lastPublished = 0;
  private timers: NodeJS.Timeout[] = [];
  private lastPoll = 0;
  readonly prefix: string;
  readonly stats: BusStats = { published: 0, received: 0, lagMsSum: 0, reconnects: 0 };

  constructor(private readonly options: NatsBusOptions) {
    this.prefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
  }

  /** `ok` while connected to NATS, `error` otherwise. */
  get state(): BusState {
    return this.current;
  }

  /** The hub's NATS connection, once there is one (control subjects share it). */
  get connection(): NatsConnection | undefined {
    return this.nc;
  }

  /** Calls `handler` on every change of state (after the first connection too). */
  onState(handler: (state: BusState) => void): void {
    this.stateHandlers.push(handler);
  }

  /** Connects, waiting at most `connectWaitMs`; without NATS the hub starts and keeps trying. */
  async start(): Promise<void> {
    const connecting = this.connectLoop();
    await Promise.race([connecting, new Promise((r) => setTimeout(r, this.options.connectWaitMs ?? 2000).unref())]);
  }

  private async connectLoop(): Promise<void> {
    let announced = false;
    while (!this.closed && this.nc === undefined) {
      try {
        const nc = await connect({
          servers: this.options.url,
          name: `telemetry-hub ${this.options.hubId}`,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          reconnectJitter: 100,
          // A NATS that vanished without a FIN is noticed within seconds, not minutes.
          pingInterval: 2000,
          maxPingOut: 2,
          timeout: 2000,
        });
        if (this.closed) {
          await nc.close();
          return;
        }
        this.nc = nc;
        for (const event of this.watched.keys()) this.subscribe(event);
        for (const subscribe of this.controls.splice(0)) subscribe(nc);
        this.setState('ok');
        this.options.log.info({ server: nc.getServer() }, 'bus: connected to NATS');
        void this.follow(nc);
      } catch (err) {
        if (!announced) this.options.log.warn({ err }, 'bus: NATS unreachable; serving local sockets only and retrying');
        announced = true;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async follow(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        this.options.log.warn('bus: NATS connection lost; serving local sockets only until it returns');
        this.setState('error');
      } else if (status.type === 'reconnect') {
        this.stats.reconnects++;
        this.options.log.info('bus: NATS connection back');
        this.setState('ok');
      }
    }
  }

  private setState(state: BusState): void {
    if (state === this.current) return;
    if (state === 'ok') this.comeBack();
    this.current = state;
    for (const handler of this.stateHandlers) handler(state);
  }

  subject(event: string): string {
    return `${this.prefix}.live.${event}`;
  }

  publish(batch: LiveBatch): void {
    for (const handler of this.handlers) handler(batch);
    this.gapFill?.saw(batch.epoch);
    const nc = this.nc;
    // While NATS is down nothing is queued for it: the other hubs read these commits back from
    // PostgreSQL (our marks are overdue meanwhile, and our resync follows our return).
    if (nc === undefined || this.current !== 'ok') return;
    this.lastPublished = batch.epoch;
    for (const [event, points] of batch.byEvent) {
      const wire: WireBatch = { h: this.options.hubId, e: batch.epoch, p: points, t: Date.now() };
      try {
        nc.publish(this.subject(event), pack(wire));
        this.stats.published++;
      } catch (err) {
        this.options.log.debug({ err }, 'bus: publish failed');
      }
    }
  }

  onBatch(handler: (batch: LiveBatch) => void): void {
    this.handlers.push(handler);
  }

  /** A socket of this hub watches `event` (the first one): receive other hubs' batches of it. */
  watch(event: string): void {
    if (this.watched.has(event)) return;
    this.watched.set(event, null);
    if (this.nc !== undefined) this.subscribe(event);
    this.gapFill?.watch(event, this.settled());
  }

  /** No socket of this hub watches `event` any more. */
  unwatch(event: string): void {
    const sub = this.watched.get(event);
    this.watched.delete(event);
    sub?.unsubscribe();
    this.gapFill?.unwatch(event);
  }

  /**
   * Fills the gaps of outages from PostgreSQL (PROTOCOL.md §15): `lost` gets the events whose
   * missed points could not all be found (the commit log was purged past the outage).
   */
  enableGapFill(source: MissedCommitsSource, lost: (events: string[]) => void, keepMs: number): void {
    const fill = new GapFill({
      me: this.options.hubId,
      source,
      keepMs,
      deliver: (batch) => this.deliver(batch),
      lost,
      onError: (err) => this.options.log.warn({ err }, 'bus: reading missed commits failed; retrying'),
    });
    this.gapFill = fill;
    for (const event of this.watched.keys()) fill.watch(event, this.settled());
    this.control('mark', (data) => {
      const m = unpack(data) as { h: string; e: number };
      fill.mark(m.h, m.e);
    });
    this.control('resync', (data) => {
      const m = unpack(data) as { h: string };
      this.options.log.info({ hub: m.h }, 'bus: another hub is back; reading its commits we missed');
      fill.fill();
    });
    // Every second, also when nothing changed: a hub not heard from for 3 s is read from PostgreSQL.
    const mark = setInterval(() => {
      this.publishControl('mark', pack({ h: this.options.hubId, e: this.lastPublished }));
    }, MARK_MS);
    const watchdog = setInterval(() => {
      if (this.watched.size === 0 || fill.busy) return;
      const now = Date.now();
      if (this.current !== 'ok') {
        // Our own link is down: the other hubs' commits come from PostgreSQL meanwhile.
        if (now - this.lastPoll >= POLL_WHILE_DOWN_MS) {
          this.lastPoll = now;
          fill.fill();
        }
        return;
      }
      for (const hub of fill.overdue(MARK_FORGET_MS)) fill.forget(hub);
      if (fill.overdue(MARK_OVERDUE_MS).length > 0 && now - this.lastPoll >= POLL_WHILE_DOWN_MS) {
        this.lastPoll = now;
        fill.fill();
      }
    }, MARK_MS);
    const routine = setInterval(() => {
      if (this.watched.size > 0) fill.fill();
    }, ROUTINE_FILL_MS);
    for (const timer of [mark, watchdog, routine]) {
      timer.unref();
      this.timers.push(timer);
    }
  }

  /** What the gap fill did (metrics). */
  get gapFillStats(): GapFillStats | undefined {
    return this.gapFill?.stats;
  }

  /** Waits until no fill runs (tests). */
  async gapFillIdle(): Promise<void> {
    await this.gapFill?.idle();
  }

  /**
   * The connection is (back) up: first tell the others (before any new batch: NATS keeps our
   * messages in order) — what we published while the link was dying may never have arrived —
   * then read what we missed.
   */
  private comeBack(): void {
    const nc = this.nc;
    if (nc !== undefined && this.gapFill !== undefined) {
      const h = headers();
      h.set('hub', this.options.hubId);
      try {
        nc.publish(`${this.prefix}.control.resync`, pack({ h: this.options.hubId }), { headers: h });
      } catch (err) {
        this.options.log.warn({ err }, 'bus: resync could not be published');
      }
    }
    if (this.watched.size > 0) this.gapFill?.fill();
  }

  /** The server has every subscription sent so far (a PING round trip); at most 1 s. */
  async settled(): Promise<void> {
    const nc = this.nc;
    if (nc === undefined || this.current !== 'ok') return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([nc.flush().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
  }

  /** Events watched now (for the gap fill after an outage). */
  watchedEvents(): string[] {
    return [...this.watched.keys()];
  }

  private subscribe(event: string): void {
    const nc = this.nc as NatsConnection;
    const sub = nc.subscribe(this.subject(event), {
      callback: (err, msg) => {
        if (err !== null) return;
        let wire: WireBatch;
        try {
          wire = unpack(msg.data) as WireBatch;
        } catch (e) {
          this.options.log.warn({ err: e }, 'bus: undecodable message dropped');
          return;
        }
        if (wire.h === this.options.hubId) return;
        this.stats.received++;
        this.stats.lagMsSum += Math.max(0, Date.now() - wire.t);
        if (this.gapFill !== undefined) this.gapFill.receive({ hub: wire.h, event, epoch: wire.e, points: wire.p });
        else this.deliver({ epoch: wire.e, byEvent: new Map([[event, wire.p]]) });
      },
    });
    this.watched.set(event, sub);
  }

  /**
   * Control traffic (revocation, presence, commands) on `<prefix>.control.<name>`: `handler`
   * gets every message of the other hubs (subscribed now, or once NATS is first reached).
   */
  control(name: string, handler: (data: Uint8Array) => void): void {
    const subject = `${this.prefix}.control.${name}`;
    const subscribe = (nc: NatsConnection): void => {
      nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err !== null || msg.headers?.get('hub') === this.options.hubId) return;
          handler(msg.data);
        },
      });
    };
    if (this.nc !== undefined) subscribe(this.nc);
    else this.controls.push(subscribe);
  }

  /** Publishes on a control subject; false when NATS is down (the callers' fallbacks then act). */
  publishControl(name: string, data: Uint8Array): boolean {
    const nc = this.nc;
    if (nc === undefined || this.current !== 'ok') return false;
    const h = headers();
    h.set('hub', this.options.hubId);
    nc.publish(`${this.prefix}.control.${name}`, data, { headers: h });
    return true;
  }

  /** Hands a remote batch to the local subscribers. */
  protected deliver(batch: LiveBatch): void {
    for (const handler of this.handlers) handler(batch);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.gapFill?.close();
    this.handlers.length = 0;
    const nc = this.nc;
    this.nc = undefined;
    if (nc !== undefined) await nc.drain().catch(() => nc.close());
  }
}
