/**
 * The device sockets this hub holds, by plugin instance: what presence counts and where
 * commands are pushed. A link is a socket (or the demo simulator, which is a device inside the
 * hub); it is valid from `opened` to `closed`.
 * @see PROTOCOL.md §13
 */

/** One open device connection of an instance. */
export interface DeviceLink {
  /** Unique for the hub's life. */
  readonly id: number;
  readonly instance: string;
  /** Pushes `{op, data}` to the device; false when it cannot (gone, too slow). */
  push(op: string, data: unknown): boolean;
}

export class DeviceLinks {
  private readonly byInstance = new Map<string, Map<number, DeviceLink>>();
  private readonly closedListeners: ((link: DeviceLink) => void)[] = [];

  /** Adds a link; returns how many the instance has now. */
  opened(link: DeviceLink): number {
    let links = this.byInstance.get(link.instance);
    if (links === undefined) {
      links = new Map();
      this.byInstance.set(link.instance, links);
    }
    links.set(link.id, link);
    return links.size;
  }

  /** Removes a link; returns how many the instance has left. */
  closed(link: DeviceLink): number {
    const links = this.byInstance.get(link.instance);
    if (links === undefined || !links.delete(link.id)) return links?.size ?? 0;
    if (links.size === 0) this.byInstance.delete(link.instance);
    for (const listener of this.closedListeners) listener(link);
    return links.size;
  }

  /** Calls `listener` whenever a link closes (pending commands on it fail at once). */
  onClosed(listener: (link: DeviceLink) => void): void {
    this.closedListeners.push(listener);
  }

  /** The most recently opened link of an instance (a reconnected device's newest socket). */
  newest(instance: string): DeviceLink | undefined {
    const links = this.byInstance.get(instance);
    if (links === undefined) return undefined;
    let newest: DeviceLink | undefined;
    for (const link of links.values()) newest = link;
    return newest;
  }

  count(instance: string): number {
    return this.byInstance.get(instance)?.size ?? 0;
  }

  /** Instances with at least one link. */
  instances(): IterableIterator<string> {
    return this.byInstance.keys();
  }
}
