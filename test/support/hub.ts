/** An in-process hub on its own fresh database and a free port, with helpers to talk to it. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { HubClient, type Encoding, type SocketLike } from '../../src/client/hub-client.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startHub, type Hub } from '../../src/main.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export const ADMIN_PASSWORD = 'admin-password-for-tests';

export interface TestHub {
  readonly hub: Hub;
  readonly database: TestDatabase;
  readonly baseUrl: string;
  readonly wsUrl: string;
  readonly dataDir: string;
  /** Logs in over HTTP; returns the access token. */
  login(username: string, password: string): Promise<string>;
  /** Opens a socket with `token`. */
  connect(token: string, encoding?: Encoding): Promise<HubClient>;
  /** Creates a user of `role` (as admin) and returns its token and record. */
  userWithRole(role: 'admin' | 'operator' | 'viewer'): Promise<{ token: string; user: Record<string, unknown>; password: string }>;
  /** The admin's token. */
  readonly adminToken: string;
  stop(): Promise<void>;
}

let counter = 0;

/** `logs`: where the hub's log lines go (default: nowhere). */
export async function startTestHub(env: Record<string, string> = {}, logs?: NodeJS.WritableStream): Promise<TestHub> {
  const database = await createTestDatabase();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'hub-it-'));
  const config = loadConfig({
    DATABASE_URL: database.url,
    HUB_PORT: '0',
    HUB_DATA_DIR: dataDir,
    HUB_ADMIN_PASSWORD: ADMIN_PASSWORD,
    HUB_JWT_SECRET: 'a-test-secret-that-is-long-enough-0123456789',
    ...env,
  });
  const hub = await startHub(config, createLogger(logs === undefined ? 'silent' : config.logLevel, logs as never));
  const baseUrl = `http://127.0.0.1:${hub.port}`;
  const wsUrl = `ws://127.0.0.1:${hub.port}/ws`;

  const login = async (username: string, password: string): Promise<string> => {
    const res = await fetch(`${baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const connect = (token: string, encoding: Encoding = 'json') =>
    HubClient.connect({
      url: wsUrl,
      token,
      encoding,
      createSocket: (url, t) => new WebSocket(url, { headers: { authorization: `Bearer ${t}` } }) as unknown as SocketLike,
    });
  const adminToken = await login('admin', ADMIN_PASSWORD);
  const admin = await connect(adminToken);

  return {
    hub,
    database,
    baseUrl,
    wsUrl,
    dataDir,
    login,
    connect,
    adminToken,
    userWithRole: async (role) => {
      const password = `password-${++counter}-long`;
      const username = `${role}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
      const user = await admin.request<Record<string, unknown>>('users.create', { username, password, role });
      return { token: await login(username, password), user, password };
    },
    stop: async () => {
      await admin.close();
      await hub.stop();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Opens a raw `ws` socket (for frames the SDK would never send). */
export function rawSocket(url: string, token: string | undefined): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    ws.binaryType = 'nodebuffer';
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode })));
  });
}

/** The next message on a raw socket, decoded as JSON (text) or returned as bytes (binary). */
export function nextMessage(ws: WebSocket): Promise<{ binary: boolean; data: Buffer }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ binary: isBinary, data: data as Buffer })));
}
