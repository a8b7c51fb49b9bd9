/**
 * A widget's `config` (free JSON on the wire), read defensively: a widget written by another
 * client, or by an older version of this one, still draws. Keys: `events` (extra events of a line
 * chart, besides `event_public_id`), `colors` (one per series, in that order), `min`, `max`,
 * `decimals`, `window_ms` (the chart's own time range), `step` (a slider's).
 */
import type { DashboardWidgetRecord } from '@telemetry-hub/client';

export interface WidgetConfig {
  events: string[];
  colors: string[];
  min: number | undefined;
  max: number | undefined;
  decimals: number | undefined;
  windowMs: number;
  step: number | undefined;
}

/** The time ranges offered, from 20 minutes to 30 days. */
export const RANGES: readonly { ms: number; label: string }[] = [
  { ms: 20 * 60_000, label: '20 min' },
  { ms: 60 * 60_000, label: '1 h' },
  { ms: 6 * 3_600_000, label: '6 h' },
  { ms: 24 * 3_600_000, label: '24 h' },
  { ms: 7 * 86_400_000, label: '7 d' },
  { ms: 30 * 86_400_000, label: '30 d' },
];
export const DEFAULT_WINDOW_MS = 20 * 60_000;

/** Series colours when the widget names none (readable on both themes). */
export const PALETTE = ['#58a6ff', '#f0883e', '#3fb950', '#d2a8ff', '#ff7b72', '#e3b341'] as const;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const COLOR = /^#[0-9a-f]{6}$/i;

export function readConfig(widget: Pick<DashboardWidgetRecord, 'config'>): WidgetConfig {
  const c = widget.config;
  const events = Array.isArray(c['events']) ? c['events'].filter((e): e is string => typeof e === 'string') : [];
  const colors = Array.isArray(c['colors']) ? c['colors'].map((x) => (typeof x === 'string' && COLOR.test(x) ? x : '')) : [];
  const windowMs = num(c['window_ms']);
  return {
    events,
    colors,
    min: num(c['min']),
    max: num(c['max']),
    decimals: num(c['decimals']),
    windowMs: windowMs !== undefined && windowMs > 0 ? windowMs : DEFAULT_WINDOW_MS,
    step: num(c['step']),
  };
}

/** The colour of series `i`: the widget's own, else the palette's. */
export function colorOf(config: Pick<WidgetConfig, 'colors'>, i: number): string {
  const own = config.colors[i];
  return own !== undefined && own !== '' ? own : (PALETTE[i % PALETTE.length] as string);
}

/** Every event a widget draws: its own first, then the extra ones (line charts), no repeats. */
export function eventsOf(widget: Pick<DashboardWidgetRecord, 'event_public_id' | 'widget_type' | 'config'>): string[] {
  const own = widget.event_public_id === null ? [] : [widget.event_public_id];
  if (widget.widget_type !== 'line_chart') return own;
  return [...new Set([...own, ...readConfig(widget).events])];
}

/** "20 min", "7 d", or minutes for a range not in the list. */
export function rangeLabel(ms: number): string {
  return RANGES.find((r) => r.ms === ms)?.label ?? `${Math.round(ms / 60_000)} min`;
}
