/** Stat card and gauge widgets: the latest value, unit, staleness, `≈` when conflated. */
import type { EventRecord } from '@telemetry-hub/client';
import { Gauge, StatValue } from '../stat.js';
import { useLatest } from './use-latest.js';
import { colorOf, type WidgetConfig } from './widget-config.js';

const opt = <K extends string>(key: K, v: number | undefined): { [k in K]?: number } => (v === undefined ? {} : ({ [key]: v } as { [k in K]: number }));

export function StatWidget(props: { event: EventRecord; config: WidgetConfig }) {
  const { latest, loadedAt } = useLatest(props.event.public_id);
  return (
    <div class="stat-widget" data-drawn={loadedAt.value > 0 ? String(loadedAt.value) : undefined} style={props.config.colors[0] ? { color: props.config.colors[0] } : undefined}>
      <StatValue latest={latest.value} unit={props.event.unit} {...opt('decimals', props.config.decimals)} />
    </div>
  );
}

export function GaugeWidget(props: { event: EventRecord; config: WidgetConfig }) {
  const { latest, loadedAt } = useLatest(props.event.public_id);
  const { config } = props;
  return (
    <div class="gauge-widget" data-drawn={loadedAt.value > 0 ? String(loadedAt.value) : undefined}>
      <Gauge latest={latest.value} event={props.event} {...opt('decimals', config.decimals)} {...opt('min', config.min)} {...opt('max', config.max)} color={colorOf(config, 0)} />
    </div>
  );
}
