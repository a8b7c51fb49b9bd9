/** Several in-process hubs on one database and one NATS, as PROTOCOL.md §15 runs them. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { HubClient, type Encoding, type SocketLike } from '../../src/client/hub-client.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startHub, type Hub } from '../../src/main.js';
import { ADMIN_PASSWORD, startTestHub, type TestHub } from './hub.js';

export interface PeerHub {
  readonly hub: Hub;
  readonly baseUrl: string;
  connect(token: string, encoding?: Encoding): Promise<HubClient>;
  stop(): Promise<void>;
}

/** The first hub, on a fresh database, with NATS at `natsUrl`. */
export function startFirstHub(natsUrl: string, env: Record<string, string> = {}): Promise<TestHub> {
  return startTestHub({ NATS_URL: natsUrl, ...env });
}

/** Another hub on `first`'s database and the same NATS. */
export async function startPeerHub(first: TestHub, natsUrl: string, env: Record<string, string> = {}): Promise<PeerHub> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hub-peer-'));
  const config = loadConfig({
    DATABASE_URL: first.database.url,
    HUB_PORT: '0',
    HUB_DATA_DIR: dir,
    HUB_ADMIN_PASSWORD: ADMIN_PASSWORD,
    HUB_JWT_SECRET: 'a-test-secret-that-is-long-enough-0123456789',
    NATS_URL: natsUrl,
    ...env,
  });
  const hub = await startHub(config, createLogger('silent'));
  const baseUrl = `http://127.0.0.1:${hub.port}`;
  let stopped: Promise<void> | undefined;
  return {
    hub,
    baseUrl,
    connect: (token, encoding = 'json') =>
      HubClient.connect({
        url: `ws://127.0.0.1:${hub.port}/ws`,
        token,
        encoding,
        createSocket: (url, t) => new WebSocket(url, { headers: { authorization: `Bearer ${t}` } }) as unknown as SocketLike,
      }),
    stop: () => (stopped ??= hub.stop().then(() => rm(dir, { recursive: true, force: true }))),
  };
}

/** Collects a client's `readings` pushes per event. */
export function collectReadings(client: HubClient): Map<string, [number, number][]> {
  const points = new Map<string, [number, number][]>();
  client.onPush((push) => {
    if (push.op !== 'readings') return;
    const data = push.data as { event: string; points: [number, number][] };
    const list = points.get(data.event) ?? [];
    list.push(...data.points);
    points.set(data.event, list);
  });
  return points;
}
