/**
 * `hub ingest [file]`: points from CSV or newline-delimited JSON (a file or stdin) through the
 * SDK's producer, with progress, ending with the count of acknowledged points.
 *
 * CSV: a header naming the columns; `event` (or `event_public_id`, or `event_name`), or
 * `channel`; `value`; `ts` (epoch ms) or `timestamp` (ISO 8601) — so `hub export` output can
 * be ingested again. NDJSON: one `{"event"|"channel", "value", "ts"?}` object a line.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Producer, type Connection, type IngestPoint } from '@telemetry-hub/client';
import { resolveId, UsageError } from './context.js';
import { Progress } from './progress.js';

export interface IngestOptions {
  file: string | undefined;
  format: 'csv' | 'ndjson' | undefined;
  /** Every point's event when the input names none. */
  event: string | undefined;
  batch: number;
}

export interface IngestResult {
  read: number;
  acked: number;
  failed: number;
}

/** Splits one CSV line (RFC 4180 quotes). */
export function csvFields(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
  }
  out.push(field);
  return out;
}

function toTs(raw: unknown, where: string): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw === 'number') return raw;
  const s = String(raw).trim();
  const n = Number(s);
  if (Number.isFinite(n)) return n;
  const parsed = Date.parse(s);
  if (Number.isNaN(parsed)) throw new UsageError(`${where}: bad time '${s}'`);
  return parsed;
}

export async function ingest(connection: Connection, options: IngestOptions, quiet: boolean): Promise<IngestResult> {
  const format = options.format ?? (options.file?.endsWith('.csv') === true ? 'csv' : options.file?.match(/\.(nd)?jsonl?$/) ? 'ndjson' : undefined);
  const input = options.file === undefined || options.file === '-' ? process.stdin : createReadStream(options.file);
  const total = options.file === undefined || options.file === '-' ? undefined : (await stat(options.file)).size;
  const names = new Map<string, string>();
  const eventId = async (nameOrId: string): Promise<string> => {
    let id = names.get(nameOrId);
    if (id === undefined) names.set(nameOrId, (id = await resolveId(connection, 'events', 'name', nameOrId)));
    return id;
  };
  const fallbackEvent = options.event === undefined ? undefined : await eventId(options.event);

  const producer = new Producer(connection, { maxPoints: options.batch });
  const progress = new Progress('points acknowledged');
  let failed = 0;
  producer.onError((err, points) => {
    failed += points.length;
    const details = (err as { details?: { path: string; message: string }[] }).details;
    process.stderr.write(`\nrefused ${points.length} points: ${err.message}${details === undefined ? '' : ` ${JSON.stringify(details.slice(0, 5))}`}\n`);
  });
  let bytes = 0;
  input.on('data', (chunk: Buffer | string) => (bytes += chunk.length));
  const ticker = setInterval(() => !quiet && progress.update(producer.stats.acked, total === undefined ? undefined : bytes / total), 100);

  let header: string[] | undefined;
  let lineNo = 0;
  let read = 0;
  let kind = format;
  try {
    for await (const rawLine of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      lineNo++;
      const line = rawLine.trim();
      if (line === '') continue;
      kind ??= line.startsWith('{') ? 'ndjson' : 'csv';
      const where = `${options.file ?? 'stdin'}:${lineNo}`;
      let record: Record<string, unknown>;
      if (kind === 'csv') {
        if (header === undefined) {
          header = csvFields(line).map((h) => h.trim().toLowerCase());
          if (!header.includes('value')) throw new UsageError(`${where}: the CSV header needs a 'value' column`);
          continue;
        }
        const fields = csvFields(line);
        record = Object.fromEntries(header.map((h, i) => [h, fields[i]]));
      } else {
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          throw new UsageError(`${where}: not JSON`);
        }
      }
      const value = Number(record.value);
      const ts = toTs(record.ts ?? record.timestamp, where);
      const channel = record.channel ?? record.channel_id;
      let point: IngestPoint;
      if (typeof channel === 'string' && channel !== '') point = { channel, value };
      else {
        const named = record.event ?? record.event_public_id ?? record.event_name;
        const event = typeof named === 'string' && named !== '' ? await eventId(named) : fallbackEvent;
        if (event === undefined) throw new UsageError(`${where}: no event (add an 'event' column or pass --event)`);
        point = { event, value };
      }
      if (ts !== undefined) point.ts = ts;
      read++;
      await producer.send(point);
    }
    await producer.close();
  } finally {
    clearInterval(ticker);
    if (!quiet) {
      progress.update(producer.stats.acked, total === undefined ? undefined : 1, true);
      progress.done();
    }
  }
  return { read, acked: producer.stats.acked, failed };
}
