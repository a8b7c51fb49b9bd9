/**
 * Presence across hubs (PROTOCOL.md §13, §15): leases in a NATS KV bucket. While a hub holds at
 * least one socket of a plugin instance it keeps the key `<instance>.<hub id>` in the bucket
 * `<prefix>-presence`, rewritten every {@link LEASE_HEARTBEAT_MS}. The bucket's max age is
 * {@link LEASE_TTL_MS} (NATS 2.9 has no per-key TTL): a hub that dies without a word (SIGKILL,
 * machine lost) stops rewriting its keys and they age out of the bucket within the TTL.
 *
 * An instance is `connected` while any key `<instance>.*` is in the bucket. The status itself
 * stays in PostgreSQL and changes in {@link DevicePresence}'s one transaction (status, log entry,
 * deliveries, NOTIFY); a hub going offline for an instance locks the instance's row (`FOR
 * UPDATE`) before it looks at the other hubs' keys, and the UPDATE is conditional (`status IS
 * DISTINCT FROM`), so two hubs never both record one transition, and a hub that puts its key
 * before its own (row-locking) UPDATE to `connected` can never be overtaken by another hub's
 * stale "nobody holds it".
 *
 * Every hub sweeps every {@link LEASE_SWEEP_MS}: an instance `connected` in the database that
 * no key holds (its hub died, or a lone hub before NATS left it so) goes offline; an instance
 * this hub holds that is not `connected` (another hub swept it while this hub was cut off from
 * NATS) comes back. Both go through the same locked, conditional change, so the sweeps of all
 * hubs together record each transition once.
 * @see PROTOCOL.md §13, §15
 */
import { Kvm, type KV } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { NatsBus } from '../live/bus-nats.js';

/** A lease lives this long after its hub's last heartbeat. */
export const LEASE_TTL_MS = 15_000;
/** How often a hub rewrites the leases of the instances it holds. */
export const LEASE_HEARTBEAT_MS = 4_000;
/** How often a hub looks for instances `connected` without a lease (and the converse). */
export const LEASE_SWEEP_MS = 3_000;

export class PresenceLeases {
  private kv: KV | undefined;
  private opening: Promise<KV | undefined> | undefined;

  constructor(
    private readonly bus: NatsBus,
    readonly hubId: string,
    private readonly log: Logger,
    private readonly ttlMs = LEASE_TTL_MS,
  ) {}

  get bucket(): string {
    return `${this.bus.prefix}-presence`;
  }

  private key(instance: string): string {
    return `${instance}.${this.hubId}`;
  }

  /** The bucket, created on first use; undefined while NATS is unreachable. */
  private async store(): Promise<KV | undefined> {
    if (this.kv !== undefined) return this.kv;
    const nc = this.bus.connection;
    if (nc === undefined || this.bus.state !== 'ok') return undefined;
    this.opening ??= (async () => {
      try {
        const kvm = new Kvm(jetstream(nc));
        const kv = await kvm.create(this.bucket, { history: 1, ttl: this.ttlMs }).catch(() => kvm.open(this.bucket));
        this.kv = kv;
        return kv;
      } catch (err) {
        this.log.warn({ err, bucket: this.bucket }, 'presence: the lease bucket could not be opened (is JetStream on?)');
        return undefined;
      } finally {
        this.opening = undefined;
      }
    })();
    return this.opening;
  }

  private async required(): Promise<KV> {
    const kv = await this.store();
    if (kv === undefined) throw new Error('presence leases: NATS (JetStream) is unreachable');
    return kv;
  }

  /** This hub holds a socket of `instance` (idempotent; also the heartbeat). */
  async acquire(instance: string): Promise<void> {
    await (await this.required()).put(this.key(instance), String(Date.now()));
  }

  /** This hub holds no socket of `instance` any more. */
  async release(instance: string): Promise<void> {
    await (await this.required()).delete(this.key(instance));
  }

  /** Whether a hub other than this one holds a live lease of `instance`. Throws while NATS is away. */
  async heldElsewhere(instance: string): Promise<boolean> {
    const kv = await this.required();
    for await (const key of await kv.keys(`${instance}.*`)) {
      if (key !== this.key(instance)) return true;
    }
    return false;
  }

  /** Every instance some hub holds a live lease of. Throws while NATS is away. */
  async held(): Promise<Set<string>> {
    const kv = await this.required();
    const out = new Set<string>();
    for await (const key of await kv.keys()) {
      const dot = key.indexOf('.');
      if (dot > 0) out.add(key.slice(0, dot));
    }
    return out;
  }

  /** Rewrites the leases of `instances` (those this hub holds now). Failures are retried next beat. */
  async heartbeat(instances: Iterable<string>): Promise<void> {
    const kv = await this.store();
    if (kv === undefined) return;
    await Promise.all(
      [...instances].map((instance) => kv.put(this.key(instance), String(Date.now())).catch((err: unknown) => this.log.debug({ err, instance }, 'presence: lease heartbeat failed'))),
    );
  }
}
