/**
 * The line chart: one or more events over a time window (20 minutes to 30 days). History comes
 * from `datapoints.query` with `bucket_ms` sized to the pixel width (avg line inside a min/max
 * band: spikes stay visible), live points fold into the same buckets, and the chart is redrawn
 * at most once per animation frame. Drag to zoom (finer buckets are fetched for the zoomed
 * span); double-click goes back to the live window.
 * @see PROTOCOL.md §7
 */
import 'uplot/dist/uPlot.min.css';
import uPlot from 'uplot';
import { useSignal } from '@preact/signals';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { EventRecord, Points, ReadingsInfo } from '@telemetry-hub/client';
import { live } from '../session.js';
import { align, bucketFor, Buckets, type WireBucket } from './buckets.js';
import { cancelDraw, drawNextFrame, throttledDraw } from './frame.js';
import { failureText, request } from './requests.js';
import { useTheme } from './use-theme.js';
import { colorOf, rangeLabel, type WidgetConfig } from './widget-config.js';

/**
 * The shortest time between two redraws for live points: a new point moves the last bucket by
 * a pixel at most, so twice a second reads as live (a point after a quiet spell is drawn in the
 * next frame), and 16 charts at ten pushes a second stay a small part of the main thread.
 */
const LIVE_REDRAW_MS = 500;
/** How long the "≈" note stays after the last conflated push. */
const CONFLATED_NOTE_MS = 10_000;

interface Props {
  events: EventRecord[];
  config: WidgetConfig;
  windowMs: number;
  /** The width the grid will give the chart (px), to size the history before layout; 0: unknown. */
  widthHint: number;
}

/** History of `events` over [from, to) in buckets of `bucketMs`, one array per event. */
function history(events: readonly EventRecord[], from: number, to: number, bucketMs: number): Promise<WireBucket[][]> {
  return Promise.all(
    events.map(async (e) => {
      const reply = await request('datapoints.query', { event_public_id: e.public_id, from: Math.floor(from), to: Math.ceil(to), bucket_ms: bucketMs });
      return (reply.buckets ?? []) as WireBucket[];
    }),
  );
}

export function LineChart(props: Props) {
  const { events, config, windowMs } = props;
  const box = useRef<HTMLDivElement>(null);
  const error = useSignal('');
  const zoomed = useSignal(false);
  /** When the hub last conflated this chart's stream (points were skipped); 0: not lately. */
  const conflatedAt = useSignal(0);
  const key = events.map((e) => e.public_id).join(',');
  const theme = useTheme();
  const look = JSON.stringify([config.colors, config.min, config.max, config.decimals, theme]);
  // The box's width in octaves (0: not known yet; gridstack sizes the items after this mounts,
  // so the first guess is the grid's hint); the buckets are sized again, and the history
  // fetched again, only when the width doubles or halves.
  const octaveOf = (px: number): number => Math.round(Math.log2(px));
  const [octave, setOctave] = useState(() => (props.widthHint > 0 ? octaveOf(props.widthHint) : 0));
  const hinted = useRef(props.widthHint > 0);
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const watch = new ResizeObserver(() => {
      if (el.clientWidth > 0) setOctave(octaveOf(el.clientWidth));
    });
    watch.observe(el);
    return () => watch.disconnect();
  }, []);

  // A layout effect: the history is asked for in the same task as the first render.
  useLayoutEffect(() => {
    const el = box.current;
    if (el === null || events.length === 0 || octave === 0) return;
    let gone = false;
    const width = Math.max(100, hinted.current ? props.widthHint : el.clientWidth);
    hinted.current = false;
    const bucketMs = bucketFor(windowMs, width);
    const series = events.map(() => new Buckets(bucketMs));
    const indexOf = new Map(events.map((e, i) => [e.public_id, i]));
    // Live points that come before the history are held, then folded in after it.
    let pending: [number, number, number][] | null = [];
    let zoom: { from: number; to: number; data: uPlot.AlignedData } | null = null;
    let now = Date.now();
    el.dataset['bucketMs'] = String(bucketMs);

    const style = getComputedStyle(document.documentElement);
    const muted = style.getPropertyValue('--muted').trim() || '#9aa5b1';
    const grid = style.getPropertyValue('--border').trim() || '#2c3642';
    const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const seriesOpts: uPlot.Series[] = [{}];
    const bands: uPlot.Band[] = [];
    events.forEach((e, i) => {
      const color = colorOf(config, i);
      const value = (_u: uPlot, v: number | null): string => (v === null ? '–' : v.toFixed(config.decimals ?? 2));
      seriesOpts.push(
        { label: e.name, stroke: color, width: 1.5, value },
        { label: `${e.name} min`, stroke: 'transparent', points: { show: false }, value },
        { label: `${e.name} max`, stroke: 'transparent', points: { show: false }, value },
      );
      bands.push({ series: [3 * i + 3, 3 * i + 2], fill: color + '33' });
    });
    const fixedY = config.min !== undefined && config.max !== undefined && config.max > config.min;
    const opts: uPlot.Options = {
      width,
      height: Math.max(60, el.clientHeight),
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false } },
      scales: {
        x: {
          time: true,
          // The x range is the window (or the zoom), not the data's extent: an empty stretch
          // at the end is an honest "nothing came since".
          range: (): uPlot.Range.MinMax => (zoom !== null ? [zoom.from / 1000, zoom.to / 1000] : [(now - windowMs) / 1000, now / 1000]),
        },
        y: fixedY ? { range: [config.min as number, config.max as number] } : {},
      },
      // The y axis as wide as its longest label (1013.5 needs more room than 0.5).
      axes: [axis, { ...axis, size: (_u, values) => 16 + 7 * Math.max(2, ...(values ?? []).map((v) => String(v).length)) }],
      series: seriesOpts,
      bands,
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 4) return;
            const from = u.posToVal(u.select.left, 'x') * 1000;
            const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            zoomTo(from, to);
          },
        ],
      },
    };
    const u = new uPlot(opts, align(series), el);

    const draw = (): void => {
      if (gone) return;
      now = Date.now();
      if (zoom !== null) {
        u.setData(zoom.data);
        return;
      }
      for (const s of series) s.trim(now - windowMs);
      const data = align(series);
      u.setData(data);
      let last: { ts: number; value: number } | undefined;
      for (const s of series) if (s.last !== undefined && (last === undefined || s.last.ts > last.ts)) last = s.last;
      // The "≈" note stays while conflation is recent (the hub marks every conflated push).
      if (conflatedAt.value !== 0 && now - conflatedAt.value > CONFLATED_NOTE_MS) conflatedAt.value = 0;
      if (last !== undefined) {
        el.dataset['lastTs'] = String(last.ts);
        el.dataset['lastValue'] = String(last.value);
      }
      el.dataset['rows'] = String(data[0].length);
      if (pending === null && el.dataset['drawn'] === undefined) {
        el.dataset['drawn'] = String(Math.round(performance.now()));
      }
    };
    const liveDraw = throttledDraw(draw, LIVE_REDRAW_MS);
    const redraw = (): void => drawNextFrame(draw);

    const zoomTo = (from: number, to: number): void => {
      const span = Math.max(1000, to - from);
      zoomed.value = true;
      const detailMs = bucketFor(span, width);
      history(events, from, from + span, detailMs).then((wire) => {
        if (gone || !zoomed.value) return;
        const detail = wire.map((w) => {
          const b = new Buckets(detailMs);
          b.load(w);
          return b;
        });
        zoom = { from, to: from + span, data: align(detail) as uPlot.AlignedData };
        redraw();
      }, (err: unknown) => (error.value = failureText(err)));
    };
    const unzoom = (): void => {
      zoom = null;
      zoomed.value = false;
      redraw();
    };
    u.over.addEventListener('dblclick', unzoom);

    const onPoints = (event: string, points: Points, info: ReadingsInfo): void => {
      const i = indexOf.get(event);
      if (i === undefined) return;
      if (info.conflated && Date.now() - conflatedAt.value > 1000) conflatedAt.value = Date.now();
      const s = series[i] as Buckets;
      if (pending !== null) for (const [ts, v] of points) pending.push([i, ts, v]);
      else for (const [ts, v] of points) s.add(ts, v);
      if (zoom === null) liveDraw.request();
    };
    // History covers [from, t) and the subscription ts > t - 1: no gap, no point twice (§7).
    const t = Date.now();
    let sub: { unsubscribe(): Promise<void> } | undefined;
    live()
      .subscribe(events.map((e) => e.public_id), onPoints, { since: t - 1 })
      .then((s) => {
        sub = s;
        if (gone) void s.unsubscribe().catch(() => undefined);
      }, (err: unknown) => (error.value = failureText(err)));
    history(events, t - windowMs, t, bucketMs).then(
      (loaded) => {
        if (gone) return;
        loaded.forEach((w, i) => (series[i] as Buckets).load(w));
        for (const [i, ts, v] of pending ?? []) (series[i] as Buckets).add(ts, v);
        pending = null;
        redraw();
      },
      (err: unknown) => {
        error.value = failureText(err);
        pending = null;
        redraw();
      },
    );
    // The window slides even when nothing comes (a stale stream is shown as such).
    const slide = setInterval(redraw, Math.max(1000, Math.min(60_000, bucketMs)));
    const resize = new ResizeObserver(() => {
      drawNextFrame(resizeToBox);
    });
    const resizeToBox = (): void => {
      if (!gone) u.setSize({ width: Math.max(100, el.clientWidth), height: Math.max(60, el.clientHeight) });
    };
    resize.observe(el);
    return () => {
      gone = true;
      zoomed.value = false;
      clearInterval(slide);
      resize.disconnect();
      cancelDraw(draw);
      liveDraw.cancel();
      cancelDraw(resizeToBox);
      void sub?.unsubscribe().catch(() => undefined);
      u.destroy();
      for (const k of ['drawn', 'rows', 'lastTs', 'lastValue']) delete el.dataset[k];
      conflatedAt.value = 0;
    };
  }, [key, windowMs, look, octave]);

  const conflated = conflatedAt.value !== 0;
  return (
    <div class="line-chart">
      {(events.length > 1 || zoomed.value || conflated) && (
        <div class="legend">
          {events.length > 1 && events.map((e, i) => (
            <span key={e.public_id}><i class="swatch" style={{ background: colorOf(config, i) }} />{e.name}</span>
          ))}
          {zoomed.value && <span class="zoom-note">zoomed · double-click to go back</span>}
          {conflated && <span class="conflated" title="the hub conflated this stream: not every point reached this chart">≈ some points skipped</span>}
        </div>
      )}
      {error.value !== '' && <p class="error small">{error.value}</p>}
      <div class="plot">
        <div class="chart" ref={box} data-chart role="img" aria-label={`line chart of ${events.map((e) => e.name).join(', ')} over ${rangeLabel(windowMs)}`} />
      </div>
    </div>
  );
}
