/**
 * Counts open sockets per key (a client address, a user or an API token) so that no one caller
 * can hold an unbounded share of the hub's sockets and the memory each one pins (its buffers, an
 * unfinished frame of up to the transport limit). Pure bookkeeping: the socket layer reserves a
 * place before upgrading and releases it exactly once when the socket closes or the upgrade fails.
 */
export class ConnectionLimits {
  private readonly open = new Map<string, number>();

  constructor(private readonly limitOf: (key: string) => number) {}

  /** Takes one place for `key`; false (nothing taken) when it has its limit already. */
  tryAcquire(key: string): boolean {
    const n = this.open.get(key) ?? 0;
    if (n >= this.limitOf(key)) return false;
    this.open.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = (this.open.get(key) ?? 0) - 1;
    if (n <= 0) this.open.delete(key);
    else this.open.set(key, n);
  }

  count(key: string): number {
    return this.open.get(key) ?? 0;
  }

  /** Keys with at least one place taken (the map never outgrows the open sockets). */
  get size(): number {
    return this.open.size;
  }
}
