/**
 * An experiment's datapoints as RFC 4180 CSV, streamed straight out of PostgreSQL by
 * `COPY … TO STDOUT` (no rows held in memory), with CRLF record ends.
 * @see PROTOCOL.md §1, §10
 */
import { Transform, type Readable } from 'node:stream';
import { to as copyTo } from 'pg-copy-streams';
import { checkout, type Pool } from './pool.js';
import { isUuid } from './repository.js';

/**
 * Streams the CSV of one experiment, ordered by timestamp. The caller has checked the
 * experiment exists; the id is checked again here because COPY takes no parameters.
 */
export async function exportExperimentCsv(pool: Pool, experimentPublicId: string): Promise<Readable> {
  if (!isUuid(experimentPublicId)) throw new Error('experiment id must be a UUID');
  const sql = `COPY (
      SELECT to_char(d."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "timestamp",
             ${neutralised('e.name')} AS event_name, e.public_id AS event_public_id, d.value, ${neutralised('e.unit')} AS unit,
             d.public_id AS datapoint_public_id
        FROM datapoints d JOIN events e ON e.public_id = d.event_public_id
       WHERE d.experiment_public_id = '${experimentPublicId.toLowerCase()}'
       ORDER BY d."timestamp", d.id
    ) TO STDOUT WITH (FORMAT csv, HEADER true)`;
  const { client, release } = await checkout(pool);
  const source = client.query(copyTo(sql));
  let released = false;
  const done = (err?: Error): void => {
    if (released) return;
    released = true;
    release(err);
  };
  source.on('end', () => done());
  source.on('error', (err: Error) => done(err));
  const crlf = crlfRecords();
  source.on('error', (err: Error) => crlf.destroy(err));
  crlf.on('close', () => {
    // The consumer went away early: end the COPY by dropping the connection.
    if (!released) done(new Error('export aborted'));
  });
  return source.pipe(crlf);
}

/**
 * A text column made safe to open in a spreadsheet (OWASP, CSV injection): a cell that starts
 * with `=`, `+`, `-`, `@`, tab or CR would run as a formula, so it gets a leading `'`. COPY still
 * quotes whatever needs quoting after that. Numbers are not text and are left alone (`-1.5`).
 */
function neutralised(column: string): string {
  return `CASE WHEN ${column} ~ '^[-=+@\t\r]' THEN '''' || ${column} ELSE ${column} END`;
}

/** PostgreSQL ends CSV records with LF; RFC 4180 wants CRLF. Newlines inside quotes stay. */
function crlfRecords(): Transform {
  let inQuotes = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const out: number[] = [];
      for (const byte of chunk) {
        if (byte === 0x22) inQuotes = !inQuotes;
        if (byte === 0x0a && !inQuotes) out.push(0x0d);
        out.push(byte);
      }
      done(null, Buffer.from(out));
    },
  });
}
