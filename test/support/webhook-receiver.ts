/** A real HTTP receiver for webhook tests, on 127.0.0.1 and a free port, recording every request. */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The raw body as received (the signature covers these bytes). */
  readonly body: string;
  /** `Date.now()` when the request's body had arrived. */
  readonly at: number;
}

/** Answers one request: a status (and headers), or `'hang'` to never answer. */
export type Answer = number | { status: number; headers?: Record<string, string> } | 'hang';

export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
  /** Requests being handled now (received, not yet answered). */
  readonly open: number;
  /** The most requests that were open at once. */
  readonly maxOpen: number;
  /** How the next requests are answered (default 200); `nth` counts from 1. */
  answer(fn: (req: ReceivedRequest, nth: number) => Answer | Promise<Answer>): void;
  /** Resolves once `count` requests have arrived, or rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  let open = 0;
  let maxOpen = 0;
  let answer: (req: ReceivedRequest, nth: number) => Answer | Promise<Answer> = () => 200;
  const waiters = new Set<() => void>();
  const hung = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      requests.push(received);
      open++;
      maxOpen = Math.max(maxOpen, open);
      for (const wake of waiters) wake();
      void Promise.resolve(answer(received, requests.length)).then((a) => {
        if (a === 'hang') {
          hung.add(res);
          res.on('close', () => {
            hung.delete(res);
            open--;
          });
          return;
        }
        const { status, headers } = typeof a === 'number' ? { status: a, headers: {} } : a;
        open--;
        res.writeHead(status, { 'content-type': 'text/plain', ...headers });
        res.end('ok');
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    requests,
    get open() {
      return open;
    },
    get maxOpen() {
      return maxOpen;
    },
    answer: (fn) => {
      answer = fn;
    },
    waitFor: (count, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (requests.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(requests.slice(0, count));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`receiver got ${requests.length} requests, expected ${count} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: async () => {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls `fn` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
