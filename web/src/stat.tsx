/**
 * A stat card: the latest value, its unit, `≈` when the hub conflated the stream, and how old
 * it is once no point came for a while (honest about offline devices). Used by the overview and
 * by dashboards (stat card and gauge widgets).
 */
import type { EventRecord } from '@telemetry-hub/client';
import { ago, formatValue } from './format.js';
import { useTick } from './live.js';

export interface Latest {
  ts: number;
  value: number;
  conflated: boolean;
}

/** After this long without a point a value is shown as stale. */
export const STALE_MS = 30_000;

export function StatValue(props: { latest: Latest | undefined; decimals?: number; unit?: string }) {
  const now = useTick(5_000);
  const { latest } = props;
  if (latest === undefined) return <div class="value empty">–</div>;
  const stale = now - latest.ts > STALE_MS;
  return (
    <div class={stale ? 'value stale' : 'value'}>
      <span class="number">{formatValue(latest.value, props.decimals)}</span>
      {latest.conflated && <span class="conflated" title="conflated: not every point is shown"> ≈</span>}
      {props.unit !== undefined && props.unit !== '' && <span class="unit"> {props.unit}</span>}
      {stale && <div class="age">{ago(now - latest.ts)}</div>}
    </div>
  );
}

/** A gauge: the value on the event's min..max arc (or the widget's config). */
export function Gauge(props: { latest: Latest | undefined; event: EventRecord | undefined; min?: number; max?: number; decimals?: number; color?: string }) {
  const min = props.min ?? props.event?.min_value ?? 0;
  const max = props.max ?? props.event?.max_value ?? 100;
  const v = props.latest?.value;
  const frac = v === undefined || max <= min ? 0 : Math.min(1, Math.max(0, (v - min) / (max - min)));
  // A half circle from 180° to 0°; the arc's end point for the value.
  const angle = Math.PI * (1 - frac);
  const x = 50 + 40 * Math.cos(angle);
  const y = 50 - 40 * Math.sin(angle);
  return (
    <div class="gauge">
      <svg viewBox="0 0 100 56" role="img" aria-label="gauge">
        <path d="M10 50 A40 40 0 0 1 90 50" class="track" />
        {frac > 0 && <path d={`M10 50 A40 40 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)}`} class="bar" style={props.color === undefined ? undefined : { stroke: props.color }} />}
      </svg>
      <StatValue latest={props.latest} unit={props.event?.unit ?? ''} {...(props.decimals === undefined ? {} : { decimals: props.decimals })} />
      <div class="range"><span>{min}</span><span>{max}</span></div>
    </div>
  );
}
