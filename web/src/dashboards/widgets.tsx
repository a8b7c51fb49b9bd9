/**
 * Widget bodies. The line chart draws history from `datapoints.query` with `bucket_ms` sized to
 * its pixel width (avg line inside a min/max band: spikes stay visible), then appends the live
 * points of the shared Subscriber. Stat card and gauge show the latest value and its staleness.
 * @see PROTOCOL.md §7
 */
import 'uplot/dist/uPlot.min.css';
import uPlot from 'uplot';
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import type { DashboardWidgetRecord, EventRecord } from '@telemetry-hub/client';
import { useReadings } from '../live.js';
import { call } from '../session.js';
import { Gauge, StatValue, type Latest } from '../stat.js';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function WidgetBody(props: { widget: DashboardWidgetRecord; event: EventRecord | undefined }) {
  const { widget, event } = props;
  if (widget.event_public_id === null || event === undefined) return <p class="muted">No event.</p>;
  if (widget.widget_type === 'line_chart') return <LineChart event={event} windowMs={num(widget.config['window_ms']) ?? 20 * 60_000} />;
  return <Latest_ widget={widget} event={event} />;
}

function Latest_(props: { widget: DashboardWidgetRecord; event: EventRecord }) {
  const latest = useSignal<Latest | undefined>(undefined);
  const id = props.event.public_id;
  useEffect(() => {
    call('datapoints.latest', { events: [id] }).then((r) => {
      const p = r.items[0];
      if (p !== undefined && (latest.value === undefined || p.ts > latest.value.ts)) latest.value = { ts: p.ts, value: p.value, conflated: false };
    }, () => undefined);
  }, [id]);
  useReadings([id], undefined, (_e, points, info) => {
    const p = points[points.length - 1];
    if (p !== undefined) latest.value = { ts: p[0], value: p[1], conflated: info.conflated };
  });
  const decimals = num(props.widget.config['decimals']);
  const d = decimals === undefined ? {} : { decimals };
  if (props.widget.widget_type === 'gauge') {
    const min = num(props.widget.config['min']);
    const max = num(props.widget.config['max']);
    return <Gauge latest={latest.value} event={props.event} {...d} {...(min === undefined ? {} : { min })} {...(max === undefined ? {} : { max })} />;
  }
  return <StatValue latest={latest.value} unit={props.event.unit} {...d} />;
}

function LineChart(props: { event: EventRecord; windowMs: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // Columns: time (s), avg, min, max.
  const data = useRef<[number[], (number | null)[], (number | null)[], (number | null)[]]>([[], [], [], []]);
  const id = props.event.public_id;
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const width = Math.max(100, el.clientWidth);
    const height = Math.max(60, el.clientHeight);
    const style = getComputedStyle(document.documentElement);
    const line = style.getPropertyValue('--line').trim() || '#58a6ff';
    const opts: uPlot.Options = {
      width, height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: true } },
      axes: [{ stroke: style.getPropertyValue('--muted').trim() }, { stroke: style.getPropertyValue('--muted').trim(), size: 40 }],
      series: [{}, { label: props.event.name, stroke: line, width: 1.5 }, { label: 'min', stroke: 'transparent' }, { label: 'max', stroke: 'transparent' }],
      bands: [{ series: [3, 2], fill: line + '33' }],
    };
    const u = new uPlot(opts, data.current, el);
    plot.current = u;
    // History sized to the pixels: one bucket per ~2 px.
    const to = Date.now();
    const from = to - props.windowMs;
    const bucketMs = Math.max(1000, Math.ceil(props.windowMs / Math.max(1, width / 2)));
    call('datapoints.query', { event_public_id: id, from, to, bucket_ms: bucketMs }).then((r) => {
      const d = data.current;
      const history: [number[], (number | null)[], (number | null)[], (number | null)[]] = [[], [], [], []];
      for (const [ts, min, max, avg] of r.buckets ?? []) {
        history[0].push(ts / 1000); history[1].push(avg); history[2].push(min); history[3].push(max);
      }
      // Live points that arrived meanwhile come after the history.
      const last = history[0][history[0].length - 1] ?? 0;
      d[0].forEach((t, i) => {
        if (t > last) { history[0].push(t); history[1].push(d[1][i] ?? null); history[2].push(d[2][i] ?? null); history[3].push(d[3][i] ?? null); }
      });
      data.current = history;
      u.setData(history);
    }, () => undefined);
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(100, el.clientWidth), height: Math.max(60, el.clientHeight) }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [id, props.windowMs]);
  useReadings([id], undefined, (_e, points) => {
    const d = data.current;
    const cutoff = (Date.now() - props.windowMs) / 1000;
    for (const [ts, v] of points) {
      d[0].push(ts / 1000); d[1].push(v); d[2].push(v); d[3].push(v);
    }
    let drop = 0;
    while (drop < d[0].length && (d[0][drop] ?? 0) < cutoff) drop++;
    if (drop > 0) for (const col of d) col.splice(0, drop);
    plot.current?.setData(d);
  });
  return <div class="chart" ref={box} />;
}
