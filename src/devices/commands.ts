/**
 * Commands to devices (PROTOCOL.md §13): `commands.send` pushes `command` to one open socket of
 * the instance and answers when the device does (`commands.reply`), or with `502 device_error`,
 * `504 timeout`, `409` (no device socket, or it closed before answering). Every command is
 * logged with its outcome.
 *
 * Routing goes through {@link CommandRouter}: {@link LocalCommandRouter} reaches the device
 * sockets of this hub; {@link ../cluster/remote-commands.ts ClusterCommandRouter} (several hubs,
 * NATS_URL) tries it first and otherwise asks the hub that holds a socket, without changing the ops.
 * @see PROTOCOL.md §13
 */
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.js';
import { audit } from '../automation/audit.js';
import type { Db } from '../db/database.js';
import { pluginInstances } from '../db/schema.js';
import { HubError, conflict, notFound } from '../errors.js';
import type { ConnectionState, OpDef } from '../protocol/ops.js';
import { JsonValue } from '../protocol/schemas.js';
import type { DeviceLink, DeviceLinks } from './links.js';

export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
export const MAX_COMMAND_TIMEOUT_MS = 60_000;
/** Commands waiting for an answer, per instance and in total; `429` beyond. */
export const MAX_PENDING_PER_INSTANCE = 32;
export const MAX_PENDING_TOTAL = 4096;

/** How a command ended, as the sender sees it. */
export type CommandOutcome = { ok: true; result: unknown } | { ok: false; error: HubError };

/** Delivers a command to a device and settles with its answer. */
export interface CommandRouter {
  /** Pushes the command; the promise settles with the device's answer, a timeout, or the link closing. */
  send(command: { id: string; instance: string; name: string; payload: unknown; timeoutMs: number; sender: ConnectionState | null }): Promise<CommandOutcome>;
  /** A device's answer; false when no such command is waiting for that instance. */
  reply(instance: string, commandId: string, outcome: { ok: true; result: unknown } | { ok: false; error: string }): boolean;
  /** The sender's socket closed: its commands stop waiting. */
  senderClosed(sender: ConnectionState): void;
}

interface Pending {
  readonly id: string;
  readonly instance: string;
  readonly linkId: number;
  readonly sender: ConnectionState | null;
  readonly settle: (outcome: CommandOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

/** Commands to the device sockets of this hub. */
export class LocalCommandRouter implements CommandRouter {
  private readonly pending = new Map<string, Pending>();
  private readonly perInstance = new Map<string, number>();

  constructor(private readonly links: DeviceLinks) {
    links.onClosed((link) => this.linkClosed(link));
  }

  get size(): number {
    return this.pending.size;
  }

  send(command: Parameters<CommandRouter['send']>[0]): Promise<CommandOutcome> {
    const link = this.links.newest(command.instance);
    if (link === undefined) return Promise.reject(conflict('The device is not connected'));
    const mine = this.perInstance.get(command.instance) ?? 0;
    if (mine >= MAX_PENDING_PER_INSTANCE || this.pending.size >= MAX_PENDING_TOTAL) {
      return Promise.reject(new HubError('rate_limited', 'Too many commands are waiting for an answer; retry later', { retryAfterMs: 1000 }));
    }
    return new Promise<CommandOutcome>((resolve) => {
      const timer = setTimeout(
        () => this.finish(command.id, { ok: false, error: new HubError('timeout', `The device did not answer within ${command.timeoutMs} ms`) }),
        command.timeoutMs,
      );
      this.pending.set(command.id, { id: command.id, instance: command.instance, linkId: link.id, sender: command.sender, settle: resolve, timer });
      this.perInstance.set(command.instance, mine + 1);
      if (!link.push('command', { command_id: command.id, name: command.name, payload: command.payload ?? null })) {
        this.finish(command.id, { ok: false, error: conflict('The device could not be reached') });
      }
    });
  }

  reply(instance: string, commandId: string, outcome: { ok: true; result: unknown } | { ok: false; error: string }): boolean {
    const p = this.pending.get(commandId);
    if (p === undefined || p.instance !== instance) return false;
    this.finish(
      commandId,
      outcome.ok ? { ok: true, result: outcome.result ?? null } : { ok: false, error: new HubError('device_error', `The device answered with an error: ${outcome.error}`) },
    );
    return true;
  }

  senderClosed(sender: ConnectionState): void {
    for (const p of [...this.pending.values()]) {
      if (p.sender === sender) this.finish(p.id, { ok: false, error: new HubError('internal', 'The sender went away') });
    }
  }

  /** The command's sender (at another hub) went away: it stops waiting here too. */
  cancel(id: string): void {
    this.finish(id, { ok: false, error: new HubError('internal', 'The sender went away') });
  }

  /** The chosen socket closed: its commands fail now, not after their whole timeout. */
  private linkClosed(link: DeviceLink): void {
    for (const p of [...this.pending.values()]) {
      if (p.linkId === link.id) this.finish(p.id, { ok: false, error: conflict('The device disconnected before answering') });
    }
  }

  private finish(id: string, outcome: CommandOutcome): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    const left = (this.perInstance.get(p.instance) ?? 1) - 1;
    if (left <= 0) this.perInstance.delete(p.instance);
    else this.perInstance.set(p.instance, left);
    p.settle(outcome);
  }
}

const SendSchema = Type.Object(
  {
    plugin_instance_public_id: Type.String({ format: 'uuid' }),
    name: Type.String({ minLength: 1, maxLength: 64 }),
    payload: Type.Optional(JsonValue()),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_COMMAND_TIMEOUT_MS })),
  },
  { additionalProperties: false },
);
const ReplySchema = Type.Object(
  {
    command_id: Type.String({ minLength: 1, maxLength: 64 }),
    ok: Type.Boolean(),
    result: Type.Optional(JsonValue()),
    error: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);

/** `commands.send` (operators and admins) and `commands.reply` (devices). */
export function commandOps(db: Db, router: CommandRouter, log: Logger, allow: { send: (p: Principal) => boolean; reply: (p: Principal) => boolean }): OpDef[] {
  return [
    {
      name: 'commands.send',
      allow: allow.send,
      schema: SendSchema,
      handle: async (data, ctx) => {
        const { plugin_instance_public_id, name, payload, timeout_ms } = data as { plugin_instance_public_id: string; name: string; payload?: unknown; timeout_ms?: number };
        const instanceId = plugin_instance_public_id.toLowerCase();
        const [instance] = await db.select({ name: pluginInstances.instance_name }).from(pluginInstances).where(eq(pluginInstances.public_id, instanceId)).limit(1);
        if (instance === undefined) throw notFound('PluginInstance', instanceId);
        const id = randomUUID();
        const timeoutMs = timeout_ms ?? DEFAULT_COMMAND_TIMEOUT_MS;
        let outcome: CommandOutcome;
        try {
          outcome = await router.send({ id, instance: instanceId, name, payload: payload ?? null, timeoutMs, sender: ctx.connection });
        } catch (err) {
          // Not sent at all (offline, too many waiting): logged too, then answered.
          outcome = { ok: false, error: err instanceof HubError ? err : new HubError('internal', undefined, { cause: err }) };
        }
        const described = outcome.ok ? 'answered' : outcome.error.code === 'device_error' ? outcome.error.message : `${outcome.error.code} (${outcome.error.message})`;
        await audit
          .command(db, { name, instanceName: instance.name, outcome: described }, ctx.principal.user.public_id)
          .catch((err: unknown) => log.warn({ err }, 'could not log a command'));
        if (!outcome.ok) throw outcome.error;
        return { command_id: id, result: outcome.result };
      },
    },
    {
      name: 'commands.reply',
      allow: allow.reply,
      schema: ReplySchema,
      handle: async (data, { principal }) => {
        const { command_id, ok, result, error } = data as { command_id: string; ok: boolean; result?: unknown; error?: string };
        const instance = principal.pluginInstancePublicId ?? '';
        const found = router.reply(instance, command_id, ok ? { ok: true, result } : { ok: false, error: error ?? 'no message' });
        if (!found) throw new HubError('not_found', `Command '${command_id.slice(0, 64)}' not found (unknown, finished, or not this device's)`);
        return { command_id, status: 'received' };
      },
    },
  ];
}
