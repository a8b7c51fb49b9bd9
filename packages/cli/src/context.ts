/**
 * What every command shares: the hub's URL and token (flags, then environment, then the file
 * `hub login` wrote), a connection, and names resolved to public ids.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { Connection, type Encoding } from '@telemetry-hub/client';

export interface GlobalOptions {
  url: string;
  token: string | undefined;
  encoding: Encoding;
  json: boolean;
}

/** A usage or input error: printed without a stack, exit code 2. */
export class UsageError extends Error {}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** Where `hub login` keeps the token: `HUB_TOKEN_FILE`, else ~/.config/telemetry-hub/token. */
export function tokenFile(): string {
  return process.env.HUB_TOKEN_FILE ?? path.join(process.env.XDG_CONFIG_HOME ?? path.join(homedir(), '.config'), 'telemetry-hub', 'token');
}

export async function saveToken(token: string): Promise<string> {
  const file = tokenFile();
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return file;
}

/** The token: `--token`, else `HUB_TOKEN`, else the saved one. */
export async function resolveToken(flag: string | undefined): Promise<string> {
  if (flag !== undefined && flag !== '') return flag;
  const env = process.env.HUB_TOKEN;
  if (env !== undefined && env !== '') return env;
  try {
    const saved = (await readFile(tokenFile(), 'utf8')).trim();
    if (saved !== '') return saved;
  } catch {
    // no saved token
  }
  throw new UsageError('no token: pass --token, set HUB_TOKEN, or run `hub login`');
}

/** `ws://…` → `http://…` for the HTTP routes. */
export function httpBase(url: string): string {
  return url.replace(/^ws(s?):\/\//, 'http$1://').replace(/\/ws\/?$/, '').replace(/\/$/, '');
}

/** Opens a connection (reconnecting for long-running commands, one attempt for the rest). */
export async function open(options: GlobalOptions, reconnect: boolean): Promise<Connection> {
  const token = await resolveToken(options.token);
  return Connection.open({ url: options.url, token, encoding: options.encoding, ...(reconnect ? {} : { reconnect: false, retryFirstOpen: false }) });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A public id as given, or the record of `resource` whose `field` equals the name. */
export async function resolveId(connection: Connection, resource: string, field: string, nameOrId: string): Promise<string> {
  if (UUID.test(nameOrId)) return nameOrId;
  const page = await connection.request<{ items: { public_id: string }[] }>(`${resource}.list`, { filter: { [field]: nameOrId }, page_size: 2 });
  const found = page.items[0];
  if (found === undefined) throw new UsageError(`no ${resource} with ${field} '${nameOrId}'`);
  return found.public_id;
}
