/**
 * The datapoints browser: one event over a time range, as stored (raw points, at most LIMIT) or
 * in buckets of min, max and average (`datapoints.query`, PROTOCOL.md §7), as a chart and a table.
 */
import { useState } from 'preact/hooks';
import { formatValue, toLocalInput } from '../format.js';
import { call } from '../session.js';
import { HistoryChart, type ChartData } from './chart.js';
import { fieldsOf } from './form.js';
import { useAll } from './list.js';
import { ErrorLine, PageHead, useAction } from './ui.js';

const LIMIT = 10_000;
const ROWS = 50;
const RESOLUTIONS: [string, string][] = [
  ['0', 'raw points'],
  ['1000', '1 s buckets'],
  ['60000', '1 min buckets'],
  ['3600000', '1 h buckets'],
  ['86400000', '1 day buckets'],
];

interface Result {
  event: string;
  bucketed: boolean;
  /** [ts, value] or [ts, min, max, avg, count], ascending. */
  rows: number[][];
  capped: boolean;
}

export function DatapointsPage() {
  const events = useAll('events.list');
  const action = useAction();
  const [result, setResult] = useState<Result | null>(null);
  const [page, setPage] = useState(0);
  const now = Date.now();
  const query = (e: SubmitEvent): void => {
    const f = fieldsOf(e);
    const event = f.get('event');
    const from = new Date(f.get('from')).getTime();
    const to = new Date(f.get('to')).getTime();
    const bucket = Number(f.get('bucket'));
    void action.run(async () => {
      if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) throw new Error('Choose a range whose end is after its start.');
      const reply = await call('datapoints.query', { event_public_id: event, from, to, limit: LIMIT, ...(bucket > 0 ? { bucket_ms: bucket } : {}) });
      const rows = bucket > 0 ? (reply.buckets ?? []) : (reply.points ?? []);
      setResult({ event, bucketed: bucket > 0, rows, capped: bucket === 0 && rows.length >= LIMIT });
      setPage(0);
    });
  };
  const name = events.find((e) => e.public_id === result?.event)?.name ?? '';
  const chart: ChartData | null =
    result === null
      ? null
      : result.bucketed
        ? { ts: result.rows.map((r) => r[0] ?? 0), value: result.rows.map((r) => r[3] ?? 0), min: result.rows.map((r) => r[1] ?? 0), max: result.rows.map((r) => r[2] ?? 0) }
        : { ts: result.rows.map((r) => r[0] ?? 0), value: result.rows.map((r) => r[1] ?? 0) };
  // Newest first in the table.
  const newestFirst = result === null ? [] : [...result.rows].reverse();
  const pages = Math.ceil(newestFirst.length / ROWS);
  const shown = newestFirst.slice(page * ROWS, page * ROWS + ROWS);
  return (
    <section class="page" id="page-datapoints">
      <PageHead title="Datapoints" />
      <form id="datapoints-form" class="panel" onSubmit={query}>
        <label>
          Event
          <select name="event" required>
            {events.map((ev) => (
              <option key={ev.public_id} value={ev.public_id}>{ev.name}{ev.unit ? ` (${ev.unit})` : ''}</option>
            ))}
          </select>
        </label>
        <label>From<input name="from" type="datetime-local" step="1" required defaultValue={toLocalInput(now - 3_600_000)} /></label>
        <label>To<input name="to" type="datetime-local" step="1" required defaultValue={toLocalInput(now + 60_000)} /></label>
        <label>
          Resolution
          <select name="bucket">
            {RESOLUTIONS.map(([v, l]) => (
              <option key={v} value={v}>{l}</option>
            ))}
          </select>
        </label>
        <div class="buttons"><button disabled={action.busy || events.length === 0}>Show</button></div>
      </form>
      <ErrorLine text={action.error} />
      {result !== null && (
        <>
          <p class="muted" id="datapoints-summary">
            {result.rows.length} {result.bucketed ? 'buckets' : 'points'} of {name}
            {result.capped && ` — the first ${LIMIT}; narrow the range or choose buckets to see the rest`}
          </p>
          {chart !== null && result.rows.length > 0 && <HistoryChart data={chart} label={name} />}
          <div class="table-wrap">
            <table id="datapoints-table">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  {result.bucketed ? (
                    <>
                      <th scope="col">Min</th>
                      <th scope="col">Max</th>
                      <th scope="col">Average</th>
                      <th scope="col">Count</th>
                    </>
                  ) : (
                    <th scope="col">Value</th>
                  )}
                </tr>
              </thead>
              <tbody>
                {shown.map((r, row) => (
                  <tr key={row}>
                    <td>{new Date(r[0] ?? 0).toLocaleString()}</td>
                    {r.slice(1).map((v, i) => (
                      <td key={i}>{i === 3 ? v : formatValue(v ?? 0)}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {pages > 1 && (
            <nav class="pager" aria-label="datapoint pages">
              <button type="button" class="quiet" disabled={page === 0} onClick={() => setPage(page - 1)}>Newer</button>
              <span>Page {page + 1} of {pages}</span>
              <button type="button" class="quiet" disabled={page >= pages - 1} onClick={() => setPage(page + 1)}>Older</button>
            </nav>
          )}
        </>
      )}
    </section>
  );
}
