/**
 * `hub`: the telemetry hub from a shell. Global flags: --url (HUB_URL, default
 * http://127.0.0.1:8080), --token (HUB_TOKEN, else the token `hub login` saved), --msgpack,
 * --json. Run `hub help` for the commands.
 */
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { ClosedError, HubRequestError, Subscriber, type Connection } from '@telemetry-hub/client';
import { DEFAULT_URL, httpBase, open, resolveId, resolveToken, saveToken, UsageError, type GlobalOptions } from './context.js';
import { ingest } from './ingest.js';
import { Progress } from './progress.js';

const HELP = `hub — the telemetry hub from a shell

usage: hub [--url URL] [--token TOKEN] [--msgpack] [--json] <command> [args]

  login [-u USER] [-p PASSWORD]        log in (HUB_USERNAME / HUB_PASSWORD); prints the token, saves it
  tail EVENT... [--since MS|ISO] [--count N]
                                       live readings (names or public ids), resuming across reconnects
  ingest [FILE|-] [--format csv|ndjson] [--event EVENT] [--batch N]
                                       points from CSV or NDJSON; prints the acknowledged count
  export EXPERIMENT [-o FILE]          the experiment's CSV (name or public id) to stdout or FILE
  list RESOURCE [--page N] [--page-size N] [--filter K=V]... [--all]
  get RESOURCE PUBLIC_ID
  create RESOURCE [K=V]... [--data JSON]
  update RESOURCE PUBLIC_ID [K=V]... [--data JSON]
  delete RESOURCE PUBLIC_ID
  send-command INSTANCE NAME [--payload JSON] [--timeout-ms N]
                                       a command to a device (instance name or public id)
  call OP [--data JSON]                any op, raw

environment: HUB_URL, HUB_TOKEN, HUB_TOKEN_FILE (where login saves the token)
values of K=V are parsed as JSON when they are JSON (numbers, true, null, objects), else strings.
`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    msgpack: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    username: { type: 'string', short: 'u' },
    password: { type: 'string', short: 'p' },
    since: { type: 'string' },
    count: { type: 'string' },
    format: { type: 'string' },
    event: { type: 'string' },
    batch: { type: 'string' },
    output: { type: 'string', short: 'o' },
    page: { type: 'string' },
    'page-size': { type: 'string' },
    filter: { type: 'string', multiple: true },
    all: { type: 'boolean' },
    data: { type: 'string' },
    payload: { type: 'string' },
    'timeout-ms': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  },
});

const global: GlobalOptions = {
  url: values.url ?? process.env.HUB_URL ?? DEFAULT_URL,
  token: values.token,
  encoding: values.msgpack === true ? 'msgpack' : 'json',
  json: values.json === true,
};

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, global.json ? undefined : 2)}\n`);
}

/** `k=v` pairs → an object (values parsed as JSON when they parse). */
function pairs(items: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const at = item.indexOf('=');
    if (at <= 0) throw new UsageError(`expected KEY=VALUE, got '${item}'`);
    const raw = item.slice(at + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    out[item.slice(0, at)] = value;
  }
  return out;
}

function jsonFlag(raw: string | undefined, name: string): Record<string, unknown> {
  if (raw === undefined) return {};
  try {
    return JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new UsageError(`--${name} is not JSON`);
  }
}

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${what} (see hub help)`);
  return value;
}

async function withConnection<T>(reconnect: boolean, fn: (c: Connection) => Promise<T>): Promise<T> {
  const connection = await open(global, reconnect);
  try {
    return await fn(connection);
  } finally {
    await connection.close();
  }
}

async function login(): Promise<void> {
  const username = values.username ?? process.env.HUB_USERNAME;
  const password = values.password ?? process.env.HUB_PASSWORD;
  const res = await fetch(`${httpBase(global.url)}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: need(username, '--username'), password: need(password, '--password') }),
  });
  const body = (await res.json()) as { access_token?: string; error?: { message: string } };
  if (res.status !== 200 || body.access_token === undefined) throw new UsageError(`login failed (${res.status}): ${body.error?.message ?? ''}`);
  const file = await saveToken(body.access_token);
  process.stderr.write(`logged in; token saved to ${file}\n`);
  process.stdout.write(`${body.access_token}\n`);
}

async function tail(events: string[]): Promise<void> {
  if (events.length === 0) throw new UsageError('tail needs at least one event');
  const limit = values.count === undefined ? Number.POSITIVE_INFINITY : Number(values.count);
  const connection = await open(global, true);
  const ids = await Promise.all(events.map((e) => resolveId(connection, 'events', 'name', e)));
  const nameOf = new Map(ids.map((id, i) => [id, events[i] as string]));
  const since = values.since === undefined ? undefined : Number.isFinite(Number(values.since)) ? Number(values.since) : Date.parse(values.since);
  let seen = 0;
  const done = new Promise<void>((resolve, reject) => {
    const subscriber = new Subscriber(connection);
    connection.on('disconnect', (ev) => ev.reconnecting && process.stderr.write(`disconnected (${ev.code}); reconnecting\n`));
    connection.on('open', (ev) => ev.reconnected && process.stderr.write('reconnected; resuming\n'));
    connection.on('closed', (ev) => (ev.error === undefined ? resolve() : reject(ev.error)));
    process.once('SIGINT', () => resolve());
    void subscriber
      .subscribe(
        ids,
        (event, points, info) => {
          for (const [ts, value] of points) {
            if (seen >= limit) return;
            seen++;
            if (global.json) print({ event, ts, value, ...(info.conflated ? { conflated: true } : {}) });
            else process.stdout.write(`${new Date(ts).toISOString()}  ${nameOf.get(event) ?? event}  ${value}${info.conflated ? '  (conflated)' : ''}\n`);
          }
          if (seen >= limit) resolve();
        },
        since === undefined ? {} : { since },
      )
      .catch(reject);
  });
  try {
    await done;
  } finally {
    await connection.close(1000, '', 0);
  }
}

async function exportCsv(experiment: string): Promise<void> {
  const token = await resolveToken(global.token);
  const id = await withConnection(false, (c) => resolveId(c, 'experiments', 'name', experiment));
  const res = await fetch(`${httpBase(global.url)}/api/experiments/${id}/export.csv`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200 || res.body === null) throw new UsageError(`export failed (${res.status}): ${await res.text()}`);
  const progress = new Progress('rows exported');
  let rows = -1; // the header
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      for (const byte of chunk) if (byte === 10) rows++;
      if (values.quiet !== true) progress.update(Math.max(0, rows));
      callback(null, chunk);
    },
  });
  const out = values.output === undefined ? process.stdout : createWriteStream(values.output);
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>), count, out);
  if (values.quiet !== true) {
    progress.update(Math.max(0, rows), undefined, true);
    progress.done();
  }
  if (values.output !== undefined) process.stderr.write(`exported ${Math.max(0, rows)} rows to ${values.output}\n`);
}

async function main(): Promise<number> {
  const [command, ...args] = positionals;
  if (values.help === true || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && values.help !== true ? 2 : 0;
  }
  switch (command) {
    case 'login':
      await login();
      return 0;
    case 'tail':
      await tail(args);
      return 0;
    case 'ingest': {
      const format = values.format;
      if (format !== undefined && format !== 'csv' && format !== 'ndjson') throw new UsageError('--format is csv or ndjson');
      const result = await withConnection(true, (c) =>
        ingest(c, { file: args[0], format, event: values.event, batch: Number(values.batch ?? 1000) }, values.quiet === true),
      );
      if (global.json) print(result);
      else process.stdout.write(`acked ${result.acked} of ${result.read} points${result.failed > 0 ? ` (${result.failed} refused)` : ''}\n`);
      return result.failed > 0 || result.acked !== result.read ? 1 : 0;
    }
    case 'export':
      await exportCsv(need(args[0], 'EXPERIMENT'));
      return 0;
    case 'list': {
      const resource = need(args[0], 'RESOURCE');
      const filter = pairs(values.filter ?? []);
      await withConnection(false, async (c) => {
        const pageSize = Number(values['page-size'] ?? (values.all === true ? 500 : 25));
        let page = Number(values.page ?? 1);
        const items: unknown[] = [];
        for (;;) {
          const reply = await c.request<{ items: unknown[]; pages: number }>(`${resource}.list`, { page, page_size: pageSize, filter });
          if (values.all !== true) return print(reply);
          items.push(...reply.items);
          if (page >= reply.pages) return print({ items, total: items.length });
          page++;
        }
      });
      return 0;
    }
    case 'get':
    case 'delete': {
      const resource = need(args[0], 'RESOURCE');
      const id = need(args[1], 'PUBLIC_ID');
      print(await withConnection(false, (c) => c.request(`${resource}.${command}`, { public_id: id })));
      return 0;
    }
    case 'create':
      print(await withConnection(false, (c) => c.request(`${need(args[0], 'RESOURCE')}.create`, { ...jsonFlag(values.data, 'data'), ...pairs(args.slice(1)) })));
      return 0;
    case 'update': {
      const data = { ...jsonFlag(values.data, 'data'), ...pairs(args.slice(2)), public_id: need(args[1], 'PUBLIC_ID') };
      print(await withConnection(false, (c) => c.request(`${need(args[0], 'RESOURCE')}.update`, data)));
      return 0;
    }
    case 'send-command': {
      const instance = need(args[0], 'INSTANCE');
      const name = need(args[1], 'NAME');
      const timeoutMs = Number(values['timeout-ms'] ?? 10_000);
      print(
        await withConnection(false, async (c) =>
          c.call(
            'commands.send',
            {
              plugin_instance_public_id: await resolveId(c, 'plugin_instances', 'instance_name', instance),
              name,
              timeout_ms: timeoutMs,
              ...(values.payload === undefined ? {} : { payload: JSON.parse(values.payload) as unknown }),
            },
            { timeoutMs: timeoutMs + 5_000 },
          ),
        ),
      );
      return 0;
    }
    case 'call':
      print(await withConnection(false, (c) => c.request(need(args[0], 'OP'), jsonFlag(values.data, 'data'))));
      return 0;
    default:
      throw new UsageError(`unknown command '${command}' (see hub help)`);
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`hub: ${err.message}\n`);
    process.exitCode = 2;
  } else if (err instanceof HubRequestError) {
    process.stderr.write(`hub: ${err.status} ${err.code}: ${err.message}${err.details === undefined ? '' : `\n${JSON.stringify(err.details, null, 2)}`}\n`);
    process.exitCode = 1;
  } else if (err instanceof ClosedError) {
    process.stderr.write(`hub: ${err.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`hub: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
