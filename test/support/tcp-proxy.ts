/**
 * A TCP proxy in front of a hub for "network cut" tests: `cut()` drops every connection at once
 * (both sides see the socket die, as with a broken link), and `target` may change (a hub that
 * restarted on another port stays reachable at the proxy's address).
 */
import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** The upstream port; connections opened from now on go there. */
  target: number;
  /** Connections dropped by `cut()` so far. */
  readonly cuts: number;
  /** Destroys every open connection (both directions) at once. */
  cut(): void;
  /** While refusing, new connections are closed at once (the hub looks unreachable). */
  refuse(on: boolean): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: number): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let refusing = false;
  let cuts = 0;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(proxy.target, '127.0.0.1');
    open.add(client);
    open.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: TcpProxy = {
    port: (server.address() as net.AddressInfo).port,
    target,
    get cuts() {
      return cuts;
    },
    cut() {
      for (const socket of open) {
        try {
          socket.resetAndDestroy();
        } catch {
          socket.destroy();
        }
        cuts++;
      }
      open.clear();
    },
    refuse(on) {
      refusing = on;
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.cut();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
