/**
 * Adding and editing a widget: type, event (and, for a line chart, more events), title, and its
 * config: colours, min/max, decimals, time window, slider step. One form for both, in a dialog.
 */
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import type { DashboardWidgetRecord, EventRecord } from '@telemetry-hub/client';
import { failureText, request } from './requests.js';
import { colorOf, DEFAULT_WINDOW_MS, RANGES, readConfig } from './widget-config.js';

type WidgetType = DashboardWidgetRecord['widget_type'];
export const WIDGET_TYPES: [WidgetType, string][] = [
  ['line_chart', 'Line chart'],
  ['stat_card', 'Stat card'],
  ['gauge', 'Gauge'],
  ['actuator_toggle', 'Actuator (toggle / slider)'],
];
const ACTUATED = new Set<EventRecord['event_type']>(['actuator', 'range']);

interface Props {
  dashboardId: string;
  events: EventRecord[];
  /** The widget to edit; none: a new one, placed below the others. */
  widget: DashboardWidgetRecord | undefined;
  nextY: number;
  onDone(): void;
  onCancel(): void;
}

export function WidgetForm(props: Props) {
  const { widget, events } = props;
  const config = widget === undefined ? undefined : readConfig(widget);
  const type = useSignal<WidgetType>(widget?.widget_type ?? 'line_chart');
  const primary = useSignal(widget?.event_public_id ?? events[0]?.public_id ?? '');
  const extra = useSignal<string[]>(config?.events ?? []);
  const error = useSignal('');
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    if (dialog.current !== null && !dialog.current.open) dialog.current.showModal();
  }, []);

  // An actuator widget writes to actuator and range events only.
  const choices = type.value === 'actuator_toggle' ? events.filter((e) => ACTUATED.has(e.event_type)) : events;
  const primaryId = choices.some((e) => e.public_id === primary.value) ? primary.value : (choices[0]?.public_id ?? '');
  const series = type.value === 'line_chart' ? [primaryId, ...extra.value.filter((id) => id !== primaryId)] : [primaryId];
  const name = (id: string): string => events.find((e) => e.public_id === id)?.name ?? id;

  const submit = (e: SubmitEvent): void => {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const text = (k: string): string => String(data.get(k) ?? '').trim();
    const number = (k: string): number | undefined => (text(k) === '' || !Number.isFinite(Number(text(k))) ? undefined : Number(text(k)));
    const cfg: Record<string, unknown> = {};
    if (type.value === 'line_chart') {
      cfg['events'] = series.slice(1);
      cfg['window_ms'] = number('window_ms') ?? DEFAULT_WINDOW_MS;
    }
    // A colour left at the palette's is not stored: the widget keeps following the palette (and
    // a stat card the theme's text colour).
    const colors = series.map((_, i) => {
      const c = text(`color${i}`).toLowerCase();
      return c === colorOf({ colors: [] }, i).toLowerCase() ? '' : c;
    });
    if (colors.some((c) => c !== '')) cfg['colors'] = colors;
    for (const k of ['min', 'max', 'decimals', 'step']) {
      const v = number(k);
      if (v !== undefined) cfg[k] = v;
    }
    const common = { widget_type: type.value, title: text('title'), event_public_id: primaryId === '' ? null : primaryId, config: cfg };
    const size = { x: number('x') ?? 0, y: number('y') ?? props.nextY, w: number('w') ?? 4, h: number('h') ?? 3 };
    const done = widget === undefined
      ? request('dashboard_widgets.create', { dashboard_public_id: props.dashboardId, ...common, ...size })
      : request('dashboard_widgets.update', { public_id: widget.public_id, ...common });
    done.then(props.onDone, (err: unknown) => (error.value = failureText(err)));
  };

  return (
    <dialog ref={dialog} id="widget-form" onCancel={(e) => { e.preventDefault(); props.onCancel(); }}>
      <form onSubmit={submit} class="widget-form">
        <h3>{widget === undefined ? 'Add widget' : 'Edit widget'}</h3>
        <label>type
          <select name="widget_type" value={type.value} onChange={(e) => (type.value = (e.currentTarget as HTMLSelectElement).value as WidgetType)}>
            {WIDGET_TYPES.map(([v, l]) => <option value={v} key={v}>{l}</option>)}
          </select>
        </label>
        <label>event
          <select name="event_public_id" required value={primaryId} onChange={(e) => (primary.value = (e.currentTarget as HTMLSelectElement).value)}>
            {choices.map((e) => <option value={e.public_id} key={e.public_id}>{e.name}{e.unit !== '' ? ` (${e.unit})` : ''}</option>)}
          </select>
        </label>
        {type.value === 'actuator_toggle' && choices.length === 0 && <p class="muted small">No event of type actuator or range yet.</p>}
        {type.value === 'line_chart' && events.length > 1 && (
          <fieldset class="more-events">
            <legend>more events on this chart</legend>
            {events.filter((e) => e.public_id !== primaryId).map((e) => (
              <label class="inline" key={e.public_id}>
                <input
                  type="checkbox"
                  name="events"
                  value={e.public_id}
                  checked={extra.value.includes(e.public_id)}
                  onChange={(ev) => {
                    const on = (ev.currentTarget as HTMLInputElement).checked;
                    extra.value = on ? [...extra.value, e.public_id] : extra.value.filter((id) => id !== e.public_id);
                  }}
                />
                <span>{e.name}</span>
              </label>
            ))}
          </fieldset>
        )}
        <label>title<input name="title" value={widget?.title ?? ''} placeholder={name(primaryId)} /></label>
        <div class="row">
          {series.map((id, i) => (
            <label key={id}>{series.length > 1 ? `colour of ${name(id)}` : 'colour'}
              <input type="color" name={`color${i}`} value={colorOf(config ?? { colors: [] }, i)} />
            </label>
          ))}
        </div>
        <div class="row">
          <label>min<input name="min" type="number" step="any" value={config?.min ?? ''} placeholder="event's" /></label>
          <label>max<input name="max" type="number" step="any" value={config?.max ?? ''} placeholder="event's" /></label>
          <label>decimals<input name="decimals" type="number" min="0" max="6" value={config?.decimals ?? 2} /></label>
          {type.value === 'actuator_toggle' && <label>step<input name="step" type="number" step="any" min="0" value={config?.step ?? ''} /></label>}
        </div>
        {type.value === 'line_chart' && (
          <label>time window
            <select name="window_ms" value={String(config?.windowMs ?? DEFAULT_WINDOW_MS)}>
              {RANGES.map((r) => <option value={String(r.ms)} key={r.ms}>{r.label}</option>)}
            </select>
          </label>
        )}
        {widget === undefined && (
          <div class="row">
            <label>x<input name="x" type="number" min="0" max="11" value="0" /></label>
            <label>y<input name="y" type="number" min="0" value={props.nextY} /></label>
            <label>w<input name="w" type="number" min="1" max="12" value="4" /></label>
            <label>h<input name="h" type="number" min="1" max="12" value="3" /></label>
          </div>
        )}
        {error.value !== '' && <p class="error">{error.value}</p>}
        <div class="row">
          <button type="submit">{widget === undefined ? 'Add' : 'Save'}</button>
          <button type="button" class="quiet" onClick={props.onCancel}>Cancel</button>
        </div>
      </form>
    </dialog>
  );
}
