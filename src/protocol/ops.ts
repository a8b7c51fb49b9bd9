/**
 * The op registry and dispatcher: look the op up, check the caller's role, validate `data`,
 * run the handler. Transport-agnostic: the server hands it decoded requests.
 * @see PROTOCOL.md §2, §3, §4
 */
import type { TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.js';
import { HubError, forbidden } from '../errors.js';
import type { Request } from './envelope.js';
import { compileSchema, type Validator } from './validate.js';

/** What a handler knows of its caller and connection. */
export interface OpContext {
  readonly principal: Principal;
  readonly log: Logger;
  /** The encoding of the request (pushes of a subscription use it). */
  readonly encoding: 'json' | 'msgpack';
  /** Per-connection state a handler may keep (subscriptions, ingest ordering). */
  readonly connection: ConnectionState;
  /** Pushes to this connection, in the encoding of the request (absent without a socket). */
  readonly transport?: PushTransport;
}

/** How a handler pushes unsolicited messages to its connection. */
export interface PushTransport {
  readonly encoding: 'json' | 'msgpack';
  send(frame: string | Uint8Array): boolean;
  bufferedAmount(): number;
  /** Closes the connection with a close code (e.g. 1013 for a reader too slow for a replay). */
  close?(code: number, reason: string): void;
}

/** Per-connection state bag, typed by the modules that use it. */
export type ConnectionState = Map<string, unknown>;

export interface OpDef<D = Record<string, unknown>> {
  readonly name: string;
  /** Who may call it at all (the role table of PROTOCOL.md §2); ownership is checked in `handle`. */
  readonly allow: (principal: Principal) => boolean;
  /** Runs before validation, e.g. to drop read-only fields a client sent back. */
  readonly prepare?: (data: Readonly<Record<string, unknown>>) => Record<string, unknown>;
  /** `data` must match; unknown fields are refused. */
  readonly schema?: TSchema;
  readonly handle: (data: D, ctx: OpContext) => Promise<unknown>;
}

interface Entry {
  def: OpDef;
  validator: Validator | undefined;
}

export class OpRegistry {
  private readonly ops = new Map<string, Entry>();

  register<D>(def: OpDef<D>): this {
    if (this.ops.has(def.name)) throw new Error(`op ${def.name} registered twice`);
    const entry: Entry = { def: def as unknown as OpDef, validator: def.schema === undefined ? undefined : compileSchema(def.schema) };
    this.ops.set(def.name, entry);
    return this;
  }

  registerAll(defs: readonly OpDef<never>[]): this {
    for (const def of defs) this.register(def as unknown as OpDef);
    return this;
  }

  has(name: string): boolean {
    return this.ops.has(name);
  }

  names(): string[] {
    return [...this.ops.keys()].sort();
  }

  /** Every op's definition, sorted by name (for generated docs). */
  definitions(): OpDef[] {
    return this.names().map((name) => (this.ops.get(name) as Entry).def);
  }

  /** Runs one request; throws a HubError (or a bug) for the caller to turn into an error reply. */
  async dispatch(request: Request, ctx: OpContext): Promise<unknown> {
    const entry = this.ops.get(request.op);
    if (entry === undefined) throw new HubError('unknown_op', `Unknown op '${request.op.slice(0, 64)}'`);
    if (!entry.def.allow(ctx.principal)) throw forbidden(`'${request.op}' is not allowed for role ${ctx.principal.role}`);
    const data = entry.def.prepare === undefined ? request.data : entry.def.prepare(request.data);
    entry.validator?.assert(data);
    return entry.def.handle(data, ctx);
  }
}
