/**
 * `npm run bench`: every bench, briefly (a few minutes in all), each with `--json`; then one
 * Markdown table of its figures beside the aims of issue 14, with the machine and PostgreSQL
 * version, written to stdout and to `--out` (bench/results.md). The runs are short and smaller
 * than the README's (its figures come from each bench's own defaults): this is a quick check
 * that every bench runs and where each figure stands, not a replacement for them.
 *
 * Flags (or BENCH_<NAME>): --out bench/results.md --only ingest,memory (names below) --json.
 * The build (dist/) is made once by the npm script; each bench runs it.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { flags, machine, ROOT } from './lib.js';

const opts = flags({ out: path.join('bench', 'results.md'), only: '' });
type Json = Record<string, unknown>;
type Outcome = { ok: true; json: Json } | { ok: false; error: string };
type Row = [figure: string, value: unknown, aim: string];

interface Run {
  readonly name: string;
  /** The bench file and its flags (short runs). */
  readonly args: string[];
  /** What the run is, for the table. */
  readonly what: string;
  readonly rows: (j: Json) => Row[];
}

const runs: Run[] = [
  {
    name: 'ingest',
    args: ['bench/ingest.ts', '--seconds', '3'],
    what: '8 devices × 1000-point messages, 3 s',
    rows: (j) => [
      ['hub rows/s', j.hub_rows_per_s, ''],
      ['hub ÷ COPY ceiling', j.ratio, '(ratio)'],
      ['ack p99 ms', j.ack_p99_ms, ''],
      ['acked = stored', j.acked === j.stored, 'true'],
    ],
  },
  {
    name: 'ingest-rules',
    args: ['bench/ingest.ts', '--seconds', '3', '--rules', '100'],
    what: 'the same, without then with 100 rules',
    rows: (j) => [['rules_ratio (with ÷ without)', j.rules_ratio, '≈ 1']],
  },
  {
    name: 'ingest-sustained',
    args: ['bench/ingest.ts', '--prefill', '500000', '--seconds', '3', '--queries', '5'],
    what: 'empty table, then 500 000 rows prefilled, 3 s each',
    rows: (j) => [
      ['sustained_ratio', j.sustained_ratio, '≥ 0.9'],
      ['datapoints.query raw, a day, p50 / p99 ms', `${format(j.query_raw_day_p50_ms)} / ${format(j.query_raw_day_p99_ms)}`, ''],
      ['datapoints.query buckets, a week, p50 / p99 ms', `${format(j.query_buckets_week_p50_ms)} / ${format(j.query_buckets_week_p99_ms)}`, ''],
    ],
  },
  {
    name: 'ingest-fixed-rate',
    args: ['bench/ingest.ts', '--fixed-rate', '10000', '--seconds', '5', '--burst', '2'],
    what: '100 devices × 100 points/s in 10-point messages, 5 s; then 2 s at full speed on the same hub',
    rows: (j) => [
      ['ack p50 ms', j.ack_p50_ms, ''],
      ['ack p99 ms', j.ack_p99_ms, '< 25'],
      ['inside the hub, p99 ms', (j.hub_stages_ms as Record<string, Json> | undefined)?.total?.p99, ''],
      ['then full speed, rows/s', (j.burst as Json | undefined)?.rows_per_s, ''],
    ],
  },
  {
    name: 'ingest-flood',
    args: ['bench/ingest.ts', '--flood', '--seconds', '3'],
    what: '20 devices alone, then beside a flood, 3 s each',
    rows: (j) => [['p99 ratio (with flood ÷ alone)', j.p99_ratio, '< 2']],
  },
  {
    name: 'ingest-producer',
    args: ['bench/ingest.ts', '--producer', '--seconds', '3'],
    what: "the SDK's Producer vs raw frames, 3 s a run",
    rows: (j) => [['ratio (producer ÷ raw)', j.ratio, '≥ 0.9']],
  },
  {
    name: 'crud',
    // One socket: 50 sockets of one token pass the per-caller limit of requests in flight (8).
    args: ['bench/crud.ts', '--seconds', '1', '--sockets', '1'],
    what: 'events.get / events.list over 1 socket, 1 s a row',
    rows: (j) => [
      ['events.get req/s (1 socket, JSON)', j['events.get_json_1_rps'], ''],
      ['events.list req/s (1 socket, JSON)', j['events.list_json_1_rps'], ''],
    ],
  },
  {
    name: 'fanout',
    args: [
      'bench/fanout.ts', '--subscribers', '200', '--events', '20', '--rate', '4000', '--seconds', '3',
      '--ramp-start', '2000', '--ramp-steps', '3', '--ramp-seconds', '2', '--idle', '1000', '--warmup', '1',
    ],
    what: '200 subscribers × 4 000 points/s, 3 s (the aim is at 1 000 × 20 000); ramp of 3 steps',
    rows: (j) => [
      ['p99 ms at the fixed rate', j.p99_ms, '< 50'],
      ['hub_cpu_per_point_vs_mosquitto', j.hub_cpu_per_point_vs_mosquitto ?? 'no broker', '≤ 0.5'],
      ['saturation_ratio', j.saturation_ratio ?? 'n/a', '≥ 1.5'],
    ],
  },
  {
    name: 'connections',
    args: ['bench/connections.ts', '--sockets', '1000', '--processes', '2', '--baseline', '2', '--hold', '3'],
    what: '1 000 authenticated sockets from 2 processes beside 1 000 points/s of ingest',
    rows: (j) => [
      ['opened', `${String(j.opened)} of ${String(j.sockets)}`, 'all'],
      ['connect p99 ms', j.connect_p99_ms, ''],
      ['ingest ack p99 with the sockets held ÷ without', j.ack_holding_p99_ratio, ''],
    ],
  },
  {
    name: 'memory',
    args: ['bench/memory.ts', '--sockets', '10000'],
    what: '10 000 idle authenticated sockets',
    rows: (j) => [
      ['RSS bytes per idle socket, one more (the second 5 000)', j.marginal_bytes_per_idle_socket, '< 3 072'],
      ['RSS bytes per idle socket, all 10 000 (with the one-time young-generation growth)', j.bytes_per_idle_socket, ''],
      ['heap bytes per idle socket (after GC)', j.heap_bytes_per_idle_socket, ''],
    ],
  },
  {
    name: 'soak',
    args: ['bench/soak.ts', '--minutes', '1', '--warmup', '20'],
    what: 'ingest + fan-out + CRUD + reconnects, 1 min (the aim is over 10 min)',
    rows: (j) => [
      ['RSS slope KB/min', j.rss_slope_kb_per_min, '≈ 0'],
      ['heap slope KB/min (after GC)', j.heap_slope_kb_per_min, '≈ 0'],
    ],
  },
];

const only = opts.only === '' ? undefined : new Set(opts.only.split(','));
const chosen = runs.filter((r) => only === undefined || only.has(r.name));
const lines: string[] = [];
const summary: Record<string, Json | { error: string }> = {};
let database = '';
const started = Date.now();

for (const run of chosen) {
  const t0 = Date.now();
  if (!opts.json) console.error(`bench: ${run.name} — ${run.what}`);
  const outcome = await runJson(run.args);
  const seconds = ((Date.now() - t0) / 1000).toFixed(0);
  if (!outcome.ok) {
    summary[run.name] = { error: outcome.error };
    lines.push(`| ${run.name} | ${run.what} | failed | ${outcome.error.replaceAll('|', '/')} | | ${seconds} s |`);
    continue;
  }
  const json = outcome.json;
  summary[run.name] = json;
  if (database === '' && typeof json.database === 'string') database = json.database;
  for (const [figure, value, aim] of run.rows(json)) {
    lines.push(`| ${run.name} | ${run.what} | ${figure} | ${format(value)} | ${aim} | ${seconds} s |`);
  }
}

const header = [
  `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}; PostgreSQL: ${database || 'see each bench'}; ` +
    `whole run ${((Date.now() - started) / 60000).toFixed(1)} min. Short runs (\`npm run bench\`): each bench's own command gives the full figures.`,
  '',
  '| bench | run | figure | value | aim | took |',
  '|---|---|---|---|---|---|',
];
const markdown = [...header, ...lines, ''].join('\n');
writeFileSync(path.resolve(ROOT, opts.out), markdown);
if (opts.json) console.log(JSON.stringify({ bench: 'all', machine: machine(), database, runs: summary }));
else console.log(`\n${markdown}\n(written to ${opts.out})`);

function format(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? value.toLocaleString('en-US').replaceAll(',', ' ') : String(Number(value.toFixed(3)));
  if (value === undefined || value === null) return '—';
  return String(value);
}

/** Runs one bench with `--json` (file descriptors raised as bench:connections needs); its last JSON line. */
function runJson(args: string[]): Promise<Outcome> {
  const command = `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" --import tsx "$@" --json`;
  const child = spawn('sh', ['-c', command, process.execPath, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      const line = out
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{'));
      if (line === undefined) return resolve({ ok: false, error: `exit ${code}, no JSON line` });
      try {
        resolve({ ok: true, json: JSON.parse(line) as Json });
      } catch {
        resolve({ ok: false, error: `exit ${code}, unreadable JSON line` });
      }
    });
  });
}
