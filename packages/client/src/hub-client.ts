/**
 * One socket, no reconnection: a {@link Connection} that ends when its socket closes. For
 * scripts and for tests of the hub itself (which check close codes and send odd frames).
 */
import { Connection, type ConnectionOptions } from './connection.js';

export type HubClientOptions = Omit<ConnectionOptions, 'reconnect' | 'retryFirstOpen'>;

export class HubClient extends Connection {
  /** Opens a socket; rejects if the hub refuses it (401) or cannot be reached. */
  static async connect(options: HubClientOptions): Promise<HubClient> {
    const client = new HubClient({ ...options, reconnect: false, retryFirstOpen: false });
    await client.opened();
    return client;
  }

  /** Closes the socket at once (no drain unless `drainMs` is given). */
  override close(code = 1000, reason = '', drainMs = 0): Promise<{ code: number; reason: string }> {
    return super.close(code, reason, drainMs);
  }
}
