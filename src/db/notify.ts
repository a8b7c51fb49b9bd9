/**
 * LISTEN on a dedicated connection that comes back by itself: after a lost connection it
 * reconnects with backoff. `onReconnect` runs each time the LISTEN is in effect — also the first
 * time, since what changed between the caller's first read and the LISTEN was never announced
 * to it (a cache loaded before must be read again), and after a reconnect, since notifications
 * sent meanwhile are lost.
 */
import pg from 'pg';
import type { Logger } from 'pino';

export interface Listener {
  /** Settles once the first LISTEN is in effect and its `onReconnect` has finished. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export function listen(
  url: string,
  channel: string,
  onMessage: (payload: string) => void,
  onReconnect: () => void | Promise<void>,
  log: Logger,
): Listener {
  return listenAll(url, { [channel]: onMessage }, onReconnect, log);
}

/** LISTEN on several channels over one connection, each with its handler. */
export function listenAll(
  url: string,
  handlers: Readonly<Record<string, (payload: string) => void>>,
  onReconnect: () => void | Promise<void>,
  log: Logger,
): Listener {
  let client: pg.Client | undefined;
  let closed = false;
  let delay = 100;

  const connect = async (): Promise<void> => {
    while (!closed) {
      const c = new pg.Client({ connectionString: url, application_name: 'telemetry-hub-listen', connectionTimeoutMillis: 5000 });
      try {
        await c.connect();
        c.on('notification', (msg) => {
          const handler = handlers[msg.channel];
          if (handler === undefined) return;
          try {
            handler(msg.payload ?? '');
          } catch (err) {
            log.error({ err, channel: msg.channel }, 'notification handler failed');
          }
        });
        c.on('error', (err) => log.warn({ err }, 'listen connection lost'));
        c.on('end', () => {
          if (!closed) void connect();
        });
        for (const channel of Object.keys(handlers)) await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        client = c;
        delay = 100;
        await Promise.resolve(onReconnect()).catch((err: unknown) => log.warn({ err }, 'reading again after LISTEN failed'));
        return;
      } catch (err) {
        await c.end().catch(() => undefined);
        log.warn({ err, retryMs: delay }, 'listen reconnect failed');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  };
  const ready = connect();
  return {
    ready,
    close: async () => {
      closed = true;
      await ready.catch(() => undefined);
      await client?.end().catch(() => undefined);
    },
  };
}
