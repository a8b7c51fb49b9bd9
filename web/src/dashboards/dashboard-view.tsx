/**
 * One dashboard: its widgets at their stored x, y, w, h on gridstack's 12 columns, a time range
 * for all its charts, and, for whoever may change it, edit mode (drag and resize save x, y, w,
 * h), adding, editing and deleting widgets. Below 640 px the grid is one column and layout
 * changes are not saved (they would be the phone's, not the dashboard's).
 */
import { GridStack, type GridStackNode } from 'gridstack';
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import type { DashboardRecord, DashboardWidgetRecord, EventRecord } from '@telemetry-hub/client';
import { href } from '../router.js';
import { failureText, request } from './requests.js';
import { canActuate, canEditDashboard, myId } from './rights.js';
import { WidgetForm } from './widget-form.js';
import { RANGES } from './widget-config.js';
import { WidgetBody, widgetTitle } from './widgets.js';

const RANGE_KEY = 'hub-dashboard-range';

/** The width inside an element's padding (the grid's, before the grid is drawn). */
function contentWidth(el: HTMLElement | null): number {
  if (el === null) return 0;
  const style = getComputedStyle(el);
  return el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
}

export function DashboardView(props: { id: string }) {
  const dashboard = useSignal<DashboardRecord | null>(null);
  const widgets = useSignal<DashboardWidgetRecord[]>([]);
  const events = useSignal<EventRecord[]>([]);
  const mine = useSignal<string | null>(null);
  const editing = useSignal(false);
  /** The widget being edited; 'new' while adding one. */
  const form = useSignal<DashboardWidgetRecord | 'new' | null>(null);
  const range = useSignal<number | undefined>(Number(sessionStorage.getItem(`${RANGE_KEY}:${props.id}`)) || undefined);
  const error = useSignal('');
  const gridEl = useRef<HTMLDivElement>(null);
  const grid = useRef<GridStack | null>(null);
  const fail = (err: unknown): void => {
    error.value = failureText(err);
  };
  const load = (): void => {
    Promise.all([
      request('dashboards.get', { public_id: props.id }),
      request('dashboard_widgets.list', { page_size: 500, filter: { dashboard_public_id: props.id } }),
      request('events.list', { page_size: 500 }),
      myId(),
    ]).then(([d, w, e, me]) => {
      dashboard.value = d;
      widgets.value = w.items;
      events.value = e.items;
      mine.value = me;
    }, fail);
  };
  useEffect(load, [props.id]);

  // gridstack takes over the items preact drew (their gs-* attributes are the stored layout).
  const layoutKey = widgets.value.map((w) => w.public_id).join(',');
  useEffect(() => {
    if (gridEl.current === null) return;
    const g = GridStack.init({ column: 12, cellHeight: 80, margin: 6, staticGrid: !editing.value, mode: 'float', columnOpts: { breakpoints: [{ w: 640, c: 1 }] } }, gridEl.current);
    if (g === null) return;
    grid.current = g;
    g.on('change', (_ev: Event, nodes: GridStackNode[]) => {
      for (const n of nodes) {
        if (typeof n.id !== 'string' || g.getColumn() !== 12) continue;
        const patch = { x: n.x ?? 0, y: n.y ?? 0, w: n.w ?? 1, h: n.h ?? 1 };
        const before = widgets.value.find((w) => w.public_id === n.id);
        if (before !== undefined && before.x === patch.x && before.y === patch.y && before.w === patch.w && before.h === patch.h) continue;
        widgets.value = widgets.value.map((w) => (w.public_id === n.id ? { ...w, ...patch } : w));
        request('dashboard_widgets.update', { public_id: n.id, ...patch }).catch(fail);
      }
    });
    return () => {
      g.destroy(false);
      grid.current = null;
    };
  }, [layoutKey, dashboard.value !== null]);
  useEffect(() => {
    grid.current?.setStatic(!editing.value);
  }, [editing.value]);

  if (dashboard.value === null) return error.value !== '' ? <p class="error">{error.value}</p> : <p class="muted">Loading…</p>;
  const d = dashboard.value;
  const editable = canEditDashboard(d, mine.value);
  const eventsById = new Map(events.value.map((e) => [e.public_id, e]));
  const nextY = widgets.value.reduce((y, w) => Math.max(y, w.y + w.h), 0);
  const gridWidth = gridEl.current?.clientWidth ?? contentWidth(document.querySelector('main'));
  const remove = (w: DashboardWidgetRecord): void => {
    if (!confirm(`Delete the widget ${widgetTitle(w, eventsById)}?`)) return;
    request('dashboard_widgets.delete', { public_id: w.public_id }).then(load, fail);
  };

  return (
    <section class={editing.value ? 'dashboard editing' : 'dashboard'}>
      <div class="toolbar">
        <h2>
          <a href={href('dashboards')}>Dashboards</a> / <span id="dashboard-name">{d.name}</span>
          {d.is_global && <span class="badge">global</span>}
        </h2>
        <label class="inline range">
          <span>range</span>
          <select
            name="range"
            aria-label="time range of the charts"
            value={range.value === undefined ? '' : String(range.value)}
            onChange={(e) => {
              const v = Number((e.currentTarget as HTMLSelectElement).value);
              range.value = v > 0 ? v : undefined;
              sessionStorage.setItem(`${RANGE_KEY}:${props.id}`, String(range.value ?? ''));
            }}
          >
            <option value="">each chart's own</option>
            {RANGES.map((r) => <option value={String(r.ms)} key={r.ms}>{r.label}</option>)}
          </select>
        </label>
        {editable && (
          <>
            <button type="button" class="quiet" id="add-widget" onClick={() => (form.value = 'new')}>Add widget</button>
            <button type="button" class={editing.value ? '' : 'quiet'} id="edit-layout" aria-pressed={editing.value} onClick={() => (editing.value = !editing.value)}>
              {editing.value ? 'Done' : 'Edit layout'}
            </button>
          </>
        )}
      </div>
      {!editable && <p class="muted small read-only-note">{canActuate() ? 'You can view this dashboard and use its actuators; only its owner or an admin can change it.' : 'Read-only: your role can view dashboards, not change them.'}</p>}
      {error.value !== '' && <p class="error" role="alert">{error.value} <button type="button" class="quiet small" onClick={() => (error.value = '')}>dismiss</button></p>}
      {form.value !== null && (
        <WidgetForm
          dashboardId={props.id}
          events={events.value}
          widget={form.value === 'new' ? undefined : form.value}
          nextY={nextY}
          onDone={() => {
            form.value = null;
            load();
          }}
          onCancel={() => (form.value = null)}
        />
      )}
      {widgets.value.length === 0 && <p class="muted">No widgets yet.{editable ? ' Add one.' : ''}</p>}
      <div class="grid-stack" ref={gridEl} key={layoutKey}>
        {widgets.value.map((w) => (
          <div class="grid-stack-item" key={w.public_id} gs-id={w.public_id} gs-x={w.x} gs-y={w.y} gs-w={w.w} gs-h={w.h} data-widget={w.public_id} data-type={w.widget_type}>
            <div class="grid-stack-item-content">
              <div class="widget">
                <h3>
                  <span class="title">{widgetTitle(w, eventsById)}</span>
                  {editing.value && editable && (
                    <span class="widget-actions">
                      <button type="button" class="quiet small" aria-label="edit widget" onClick={() => (form.value = w)}>Edit</button>
                      <button type="button" class="danger small" aria-label="delete widget" onClick={() => remove(w)}>×</button>
                    </span>
                  )}
                </h3>
                <div class="body">
                  <WidgetBody widget={w} eventsById={eventsById} windowMs={range.value} canActuate={canActuate()} gridWidth={gridWidth} />
                </div>
              </div>
            </div>
          </div>
        ))}
      </div>
    </section>
  );
}
