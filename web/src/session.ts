/**
 * The session: the token (kept in sessionStorage, like the built-in page before it), one
 * reconnecting SDK connection and one Subscriber shared by every view, the user's role, and the
 * connection state shown in the header. A close with 1008 (token revoked or expired) logs out.
 * @see PROTOCOL.md §1, §3
 */
import { signal } from '@preact/signals';
import { Connection, Subscriber, type OpName, type OpRequests, type ReplyTo } from '@telemetry-hub/client';

const TOKEN_KEY = 'hub-token';

export const token = signal<string | null>(sessionStorage.getItem(TOKEN_KEY));
export const status = signal('not connected');
export const role = signal<string | null>(null);
export const username = signal<string | null>(null);
export const loginError = signal('');

let connection: Connection | undefined;
let subscriber: Subscriber | undefined;

/** The open session's connection; views render only while logged in. */
export function hub(): Connection {
  if (connection === undefined) throw new Error('not connected');
  return connection;
}

/** The shared subscriber: each event is subscribed once, resumed with `since` after a drop. */
export function live(): Subscriber {
  subscriber ??= new Subscriber(hub());
  return subscriber;
}

/** A typed request on the session's socket. */
export function call<O extends OpName>(op: O, data: OpRequests[O]): Promise<ReplyTo<O>> {
  return hub().call(op, data);
}

/** Can this role write (operator, admin)? Viewers see no edit controls (PROTOCOL.md §2). */
export function canWrite(): boolean {
  return role.value === 'operator' || role.value === 'admin';
}

/** Admins alone manage users, webhooks, firmware, plugin instances and API tokens. */
export function isAdmin(): boolean {
  return role.value === 'admin';
}

/** The bearer token, for the HTTP routes a socket cannot serve (uploads, the CSV export). */
export function bearer(): string {
  return token.value ?? '';
}

/** Logs in with a password (`POST /api/auth/login`) and opens the socket. */
export async function login(name: string, password: string): Promise<void> {
  const res = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: name, password }),
  });
  const body = (await res.json()) as { access_token?: string; error?: { message: string } };
  if (!res.ok || body.access_token === undefined) {
    loginError.value = body.error?.message ?? `login failed (${res.status})`;
    return;
  }
  loginError.value = '';
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  token.value = body.access_token;
  await start();
}

/**
 * Back from single sign-on (PROTOCOL.md §17): a one-time code in the fragment, never sent to a
 * server by the browser; taken off the address bar, then exchanged for the token.
 */
export async function ssoExchange(): Promise<void> {
  const match = /^#sso_code=([^&]+)$/.exec(location.hash);
  if (match === null) return;
  history.replaceState(null, '', location.pathname + location.search);
  const res = await fetch('/api/auth/sso/exchange', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: decodeURIComponent(match[1] ?? '') }),
  });
  const body = (await res.json()) as { access_token?: string; error?: { message: string } };
  if (!res.ok || body.access_token === undefined) {
    loginError.value = body.error?.message ?? 'sign-in failed';
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  token.value = body.access_token;
}

export const connected = signal(false);

/** Opens the session's connection (once) and learns who we are. */
export async function start(): Promise<void> {
  if (connection !== undefined || token.value === null) return;
  status.value = 'connecting…';
  const conn = new Connection({ url: location.origin, token: () => token.value ?? '' });
  connection = conn;
  conn.on('open', () => {
    status.value = 'connected';
  });
  conn.on('disconnect', (ev) => {
    status.value = ev.reconnecting ? `reconnecting (${ev.code})…` : `disconnected (${ev.code})`;
  });
  conn.on('closed', (ev) => {
    status.value = `disconnected (${ev.code})`;
    // 1008: the token was revoked or expired (PROTOCOL.md §4); reconnecting with it is useless.
    if (ev.code === 1008 && connection === conn) loginError.value = 'Your session ended (logged out or token revoked): log in again.';
    if (connection === conn) forget();
  });
  try {
    await conn.opened();
    const me = await conn.call('auth.me', {});
    role.value = me.role;
    username.value = me.user.username;
    connected.value = true;
  } catch (err) {
    loginError.value = err instanceof Error ? err.message : String(err);
    if (connection === conn) forget();
    void conn.close();
  }
}

function forget(): void {
  subscriber?.close();
  subscriber = undefined;
  connection = undefined;
  connected.value = false;
  role.value = null;
  sessionStorage.removeItem(TOKEN_KEY);
  token.value = null;
}

/** Logs out: revokes the token at the hub (`auth.logout`), then forgets it. */
export async function logout(): Promise<void> {
  const conn = connection;
  if (conn !== undefined) {
    await conn.call('auth.logout', {}).catch(() => undefined);
    forget();
    await conn.close().catch(() => undefined);
  }
  forget();
  status.value = 'not connected';
}
