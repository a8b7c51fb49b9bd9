/**
 * One widget on the grid: its title bar (edit and delete in edit mode) and its body by type.
 * A widget whose event was deleted (the reference is cleared, SET NULL) says so instead of failing.
 */
import type { DashboardWidgetRecord, EventRecord } from '@telemetry-hub/client';
import { ActuatorWidget } from './actuator.js';
import { GaugeWidget, StatWidget } from './latest-widgets.js';
import { LineChart } from './line-chart.js';
import { eventsOf, readConfig } from './widget-config.js';

interface Props {
  widget: DashboardWidgetRecord;
  eventsById: ReadonlyMap<string, EventRecord>;
  /** The dashboard's range, overriding the widget's own window; undefined: the widget's. */
  windowMs: number | undefined;
  canActuate: boolean;
  /** The grid's width in pixels (0 before it is known). */
  gridWidth: number;
}

export function WidgetBody(props: Props) {
  const { widget, eventsById } = props;
  const config = readConfig(widget);
  const event = eventsById.get(widget.event_public_id ?? '');
  if (event === undefined) return <p class="muted">No event (it may have been deleted).</p>;
  switch (widget.widget_type) {
    case 'line_chart': {
      const events = eventsOf(widget).flatMap((id) => eventsById.get(id) ?? []);
      // The cell's width less the widget's padding; one column below gridstack's 640 px breakpoint.
      const widthHint = props.gridWidth <= 0 ? 0 : Math.round((props.gridWidth < 640 ? props.gridWidth : (props.gridWidth * widget.w) / 12) - 30);
      return <LineChart events={events} config={config} windowMs={props.windowMs ?? config.windowMs} widthHint={widthHint} />;
    }
    case 'gauge':
      return <GaugeWidget event={event} config={config} />;
    case 'actuator_toggle':
      return <ActuatorWidget event={event} config={config} writable={props.canActuate} />;
    default:
      return <StatWidget event={event} config={config} />;
  }
}

export function widgetTitle(widget: DashboardWidgetRecord, eventsById: ReadonlyMap<string, EventRecord>): string {
  if (widget.title !== '') return widget.title;
  return eventsById.get(widget.event_public_id ?? '')?.name ?? widget.widget_type.replace('_', ' ');
}
