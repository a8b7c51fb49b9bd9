/**
 * `npm run bench:crud`: request/response throughput and latency of `events.get` and
 * `events.list` through the hub, over 1 and 50 sockets, JSON and MessagePack, against the same
 * queries sent straight to PostgreSQL with the same concurrency (the floor the hub adds to).
 *
 * Flags (or BENCH_<NAME>): --seconds 5 --sockets 1,50 --window 8 --json
 */
import pg from 'pg';
import { adminToken, connect, flags, Latencies, machine, startBenchHub, table } from './lib.js';

const opts = flags({ seconds: '5', sockets: '1,50', window: '8' });
const seconds = Number(opts.seconds);
const socketCounts = opts.sockets.split(',').map(Number);
/** Requests each socket keeps in flight. */
const window = Number(opts.window);

const hub = await startBenchHub();
try {
  const token = await adminToken(hub);
  const setup = await connect(hub, token);
  const ids: string[] = [];
  for (let i = 0; i < 100; i++) {
    const ev = await setup.request<{ public_id: string }>('events.create', { name: `bench-${i}`, unit: 'C' });
    ids.push(ev.public_id);
  }
  await setup.close();

  const rows: Record<string, string | number>[] = [];
  const results: Record<string, number> = {};
  const scenarios = [
    { op: 'events.get', data: (i: number) => ({ public_id: ids[i % ids.length] }) },
    { op: 'events.list', data: () => ({ page: 1, page_size: 25 }) },
  ];

  for (const scenario of scenarios) {
    for (const sockets of socketCounts) {
      for (const encoding of ['json', 'msgpack'] as const) {
        const clients = await Promise.all(Array.from({ length: sockets }, () => connect(hub, token, encoding)));
        const lat = new Latencies();
        let done = 0;
        const deadline = performance.now() + seconds * 1000;
        await Promise.all(
          clients.flatMap((client) =>
            Array.from({ length: window }, async (_, w) => {
              let i = w;
              while (performance.now() < deadline) {
                const t0 = performance.now();
                await client.request(scenario.op, scenario.data(i++));
                lat.add(performance.now() - t0);
                done++;
              }
            }),
          ),
        );
        await Promise.all(clients.map((c) => c.close()));
        const s = lat.summary();
        const rps = done / seconds;
        rows.push({ op: scenario.op, path: `hub ${encoding}`, sockets, 'req/s': Math.round(rps), 'p50 ms': s.p50, 'p99 ms': s.p99 });
        results[`${scenario.op}_${encoding}_${sockets}_rps`] = Math.round(rps);
        results[`${scenario.op}_${encoding}_${sockets}_p99_ms`] = Number(s.p99.toFixed(3));
      }

      // Baseline: the same query straight to PostgreSQL, same concurrency.
      const pool = new pg.Pool({ connectionString: hub.databaseUrl.replace('/postgres?', `/postgres?`), max: Math.min(sockets * window, 20) });
      const sql =
        scenario.op === 'events.get'
          ? 'SELECT public_id, created_on, name, unit, min_value, max_value, event_type, user_public_id FROM events WHERE public_id = $1 LIMIT 1'
          : 'SELECT public_id, created_on, name, unit, min_value, max_value, event_type, user_public_id FROM events ORDER BY id LIMIT 25 OFFSET 0';
      const lat = new Latencies();
      let done = 0;
      const deadline = performance.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: sockets * window }, async (_, w) => {
          let i = w;
          while (performance.now() < deadline) {
            const t0 = performance.now();
            if (scenario.op === 'events.get') await pool.query(sql, [ids[i++ % ids.length]]);
            else {
              await pool.query('SELECT count(*) FROM events');
              await pool.query(sql);
            }
            lat.add(performance.now() - t0);
            done++;
          }
        }),
      );
      await pool.end();
      const s = lat.summary();
      rows.push({ op: scenario.op, path: 'pg direct', sockets, 'req/s': Math.round(done / seconds), 'p50 ms': s.p50, 'p99 ms': s.p99 });
      results[`${scenario.op}_pg_${sockets}_rps`] = Math.round(done / seconds);
    }
  }

  if (opts.json) console.log(JSON.stringify({ bench: 'crud', machine: machine(), seconds, window, ...results }));
  else {
    console.log(`bench:crud — ${machine()}; ${seconds} s per row, ${window} requests in flight per socket`);
    console.log(table(rows));
  }
} finally {
  await hub.stop();
}
