/**
 * Commands across hubs (PROTOCOL.md §13, §15): a {@link CommandRouter} that tries this hub's
 * device sockets first and otherwise asks, by NATS request/reply, the hub that holds one.
 *
 * While a hub holds at least one link of an instance it subscribes to
 * `<prefix>.command.<instance>` in the queue group `hubs`, so a request reaches exactly one
 * holding hub (a device's command is never pushed twice). That hub runs the command through its
 * own {@link LocalCommandRouter} (so `timeout_ms`, `502 device_error`, `504 timeout`, `409` when
 * the chosen socket closes before answering, and its `429` bounds are the local ones, decided
 * where the socket is) and replies with the outcome. The sender's hub waits `timeout_ms` plus
 * {@link REMOTE_SLACK_MS} for that reply, then answers `504` itself (the other hub vanished).
 * No hub subscribed (no responders): `409` at once, as for a device with no socket. NATS
 * unreachable: `409` too — no socket this hub can reach. A sender that closes before the
 * answer: its hub announces it on the control subject `command-cancel`, and the device's hub
 * stops waiting (the device's late answer is `404`, as on one hub).
 * @see PROTOCOL.md §13, §15
 */
import { RequestError, TimeoutError, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { DeviceLinks } from '../devices/links.js';
import type { CommandOutcome, CommandRouter, LocalCommandRouter } from '../devices/commands.js';
import { HubError, conflict, type ErrorCode } from '../errors.js';
import type { NatsBus } from '../live/bus-nats.js';
import type { ConnectionState } from '../protocol/ops.js';

/** How much longer than `timeout_ms` the sender's hub waits for the device's hub. */
export const REMOTE_SLACK_MS = 2_000;
const QUEUE = 'hubs';
/** Control subject of commands whose sender went away. */
const CANCEL = 'command-cancel';

/** A command as it goes to the device's hub. */
interface WireCommand {
  id: string;
  name: string;
  payload: unknown;
  timeoutMs: number;
}
/** Its outcome, back. */
type WireOutcome = { ok: true; result: unknown } | { ok: false; code: ErrorCode; message: string; retryAfterMs?: number };

type Send = Parameters<CommandRouter['send']>[0];

export class ClusterCommandRouter implements CommandRouter {
  private readonly subs = new Map<string, Subscription | null>();
  /** Commands sent to another hub, by sender, so that a closed sender stops waiting. */
  private readonly remote = new Map<string, { sender: ConnectionState | null; settle: (o: CommandOutcome) => void }>();
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly local: LocalCommandRouter,
    private readonly links: DeviceLinks,
    private readonly bus: NatsBus,
    private readonly log: Logger,
  ) {
    // First connection (and every reconnection): subscribe what is still wanted. The client
    // itself resubscribes after a reconnection; this covers links opened before NATS was up.
    // A sender that closed at another hub: its command stops waiting here (a late answer is 404).
    bus.control(CANCEL, (data) => this.local.cancel(this.decoder.decode(data)));
    bus.onState((state) => {
      if (state !== 'ok') return;
      for (const [instance, sub] of this.subs) if (sub === null) this.subscribe(instance);
    });
  }

  subject(instance: string): string {
    return `${this.bus.prefix}.command.${instance}`;
  }

  /** This hub's first link of `instance` opened: answer the other hubs' commands for it. */
  linked(instance: string): void {
    if (this.subs.has(instance)) return;
    this.subs.set(instance, null);
    this.subscribe(instance);
  }

  /** Its last link closed. */
  unlinked(instance: string): void {
    const sub = this.subs.get(instance);
    this.subs.delete(instance);
    sub?.unsubscribe();
  }

  private subscribe(instance: string): void {
    const nc = this.bus.connection;
    if (nc === undefined || this.bus.state !== 'ok' || !this.subs.has(instance)) return;
    const sub = nc.subscribe(this.subject(instance), {
      queue: QUEUE,
      callback: (err, msg) => {
        if (err !== null) return;
        void this.serve(instance, msg.data).then(
          (answer) => msg.respond(this.encoder.encode(JSON.stringify(answer))),
          (e: unknown) => this.log.warn({ err: e, instance }, 'commands: could not answer a remote command'),
        );
      },
    });
    this.subs.set(instance, sub);
  }

  /** Runs another hub's command on this hub's sockets. */
  private async serve(instance: string, data: Uint8Array): Promise<WireOutcome> {
    let command: WireCommand;
    try {
      command = JSON.parse(this.decoder.decode(data)) as WireCommand;
    } catch {
      return { ok: false, code: 'internal', message: 'Undecodable command' };
    }
    let outcome: CommandOutcome;
    try {
      outcome = await this.local.send({ id: command.id, instance, name: command.name, payload: command.payload, timeoutMs: command.timeoutMs, sender: null });
    } catch (err) {
      outcome = { ok: false, error: err instanceof HubError ? err : new HubError('internal', undefined, { cause: err }) };
    }
    if (outcome.ok) return { ok: true, result: outcome.result };
    const { code, message, retryAfterMs } = outcome.error;
    return { ok: false, code, message, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }

  send(command: Send): Promise<CommandOutcome> {
    if (this.links.count(command.instance) > 0) return this.local.send(command);
    const nc = this.bus.connection;
    if (nc === undefined || this.bus.state !== 'ok') return Promise.reject(conflict('The device is not connected'));
    const wire: WireCommand = { id: command.id, name: command.name, payload: command.payload ?? null, timeoutMs: command.timeoutMs };
    return new Promise<CommandOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: CommandOutcome): void => {
        if (settled) return;
        settled = true;
        this.remote.delete(command.id);
        resolve(outcome);
      };
      this.remote.set(command.id, { sender: command.sender, settle });
      nc.request(this.subject(command.instance), this.encoder.encode(JSON.stringify(wire)), { timeout: command.timeoutMs + REMOTE_SLACK_MS }).then(
        (msg) => {
          let answer: WireOutcome;
          try {
            answer = JSON.parse(this.decoder.decode(msg.data)) as WireOutcome;
          } catch {
            settle({ ok: false, error: new HubError('internal', 'Undecodable answer from the device’s hub') });
            return;
          }
          if (answer.ok) settle({ ok: true, result: answer.result ?? null });
          else settle({ ok: false, error: new HubError(answer.code, answer.message, answer.retryAfterMs === undefined ? {} : { retryAfterMs: answer.retryAfterMs }) });
        },
        (err: unknown) => {
          if (err instanceof RequestError && err.isNoResponders()) settle({ ok: false, error: conflict('The device is not connected') });
          else if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
            settle({ ok: false, error: new HubError('timeout', `The device did not answer within ${command.timeoutMs} ms`) });
          } else settle({ ok: false, error: conflict('The device could not be reached') });
        },
      );
    });
  }

  reply(instance: string, commandId: string, outcome: { ok: true; result: unknown } | { ok: false; error: string }): boolean {
    return this.local.reply(instance, commandId, outcome);
  }

  senderClosed(sender: ConnectionState): void {
    this.local.senderClosed(sender);
    for (const [id, p] of [...this.remote]) {
      if (p.sender !== sender) continue;
      p.settle({ ok: false, error: new HubError('internal', 'The sender went away') });
      this.bus.publishControl(CANCEL, this.encoder.encode(id));
    }
  }
}
