/** One dashboard: its widgets on a 12-column gridstack; edit mode moves, resizes and saves. */
import { GridStack, type GridStackNode } from 'gridstack';
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import type { DashboardRecord, DashboardWidgetRecord, EventRecord } from '@telemetry-hub/client';
import { errorText } from '../format.js';
import { href } from '../router.js';
import { call, canWrite } from '../session.js';
import { WidgetBody } from './widgets.js';

type WidgetType = DashboardWidgetRecord['widget_type'];
const TYPES: [WidgetType, string][] = [['line_chart', 'Line chart'], ['stat_card', 'Stat card'], ['gauge', 'Gauge']];

export function DashboardView(props: { id: string }) {
  const dashboard = useSignal<DashboardRecord | null>(null);
  const widgets = useSignal<DashboardWidgetRecord[]>([]);
  const events = useSignal<EventRecord[]>([]);
  const editing = useSignal(false);
  const adding = useSignal(false);
  const error = useSignal('');
  const gridEl = useRef<HTMLDivElement>(null);
  const grid = useRef<GridStack | null>(null);
  const fail = (err: unknown): void => {
    error.value = errorText(err);
  };
  const load = (): void => {
    Promise.all([
      call('dashboards.get', { public_id: props.id }),
      call('dashboard_widgets.list', { page_size: 500, filter: { dashboard_public_id: props.id } }),
      call('events.list', { page_size: 500 }),
    ]).then(([d, w, e]) => {
      dashboard.value = d;
      widgets.value = w.items;
      events.value = e.items;
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
        widgets.value = widgets.value.map((w) => (w.public_id === n.id ? { ...w, ...patch } : w));
        call('dashboard_widgets.update', { public_id: n.id, ...patch }).catch(fail);
      }
    });
    return () => {
      g.destroy(false);
      grid.current = null;
    };
  }, [layoutKey]);
  useEffect(() => {
    grid.current?.setStatic(!editing.value);
  }, [editing.value]);

  const add = (e: SubmitEvent): void => {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const num = (name: string, d: number): number => {
      const v = Number(data.get(name));
      return Number.isFinite(v) && String(data.get(name) ?? '') !== '' ? v : d;
    };
    const windowMin = num('window_min', 20);
    call('dashboard_widgets.create', {
      dashboard_public_id: props.id,
      widget_type: String(data.get('widget_type')) as WidgetType,
      title: String(data.get('title') ?? ''),
      event_public_id: String(data.get('event_public_id')),
      x: num('x', 0), y: num('y', 0), w: num('w', 4), h: num('h', 3),
      config: { window_ms: windowMin * 60_000, decimals: num('decimals', 2) },
    }).then(() => {
      adding.value = false;
      load();
    }, fail);
  };

  if (dashboard.value === null) return error.value !== '' ? <p class="error">{error.value}</p> : <p class="muted">Loading…</p>;
  const eventsById = new Map(events.value.map((e) => [e.public_id, e]));
  return (
    <section class={editing.value ? 'editing' : ''}>
      <div class="toolbar">
        <h2><a href={href('dashboards')}>Dashboards</a> / <span id="dashboard-name">{dashboard.value.name}</span></h2>
        {canWrite() && (
          <>
            <button type="button" class="quiet" onClick={() => (adding.value = !adding.value)}>Add widget</button>
            <button type="button" class={editing.value ? '' : 'quiet'} aria-pressed={editing.value} onClick={() => (editing.value = !editing.value)}>
              {editing.value ? 'Done' : 'Edit layout'}
            </button>
          </>
        )}
      </div>
      {error.value !== '' && <p class="error">{error.value}</p>}
      {adding.value && (
        <form class="toolbar" id="new-widget" onSubmit={add}>
          <label>type<select name="widget_type">{TYPES.map(([v, l]) => <option value={v} key={v}>{l}</option>)}</select></label>
          <label>event<select name="event_public_id" required>{events.value.map((e) => <option value={e.public_id} key={e.public_id}>{e.name}</option>)}</select></label>
          <label>title<input name="title" /></label>
          <label>x<input name="x" type="number" min="0" max="11" value="0" /></label>
          <label>y<input name="y" type="number" min="0" value="0" /></label>
          <label>w<input name="w" type="number" min="1" max="12" value="4" /></label>
          <label>h<input name="h" type="number" min="1" max="12" value="3" /></label>
          <label>window (min)<input name="window_min" type="number" min="1" value="20" /></label>
          <label>decimals<input name="decimals" type="number" min="0" max="6" value="2" /></label>
          <button>Add</button>
        </form>
      )}
      {widgets.value.length === 0 && <p class="muted">No widgets yet.</p>}
      <div class="grid-stack" ref={gridEl} key={layoutKey}>
        {widgets.value.map((w) => (
          <div class="grid-stack-item" key={w.public_id} gs-id={w.public_id} gs-x={w.x} gs-y={w.y} gs-w={w.w} gs-h={w.h} data-widget={w.public_id}>
            <div class="grid-stack-item-content">
              <div class="widget">
                <h3>
                  {w.title !== '' ? w.title : eventsById.get(w.event_public_id ?? '')?.name ?? w.widget_type}
                  {editing.value && (
                    <button type="button" class="danger small" onClick={() => {
                      if (confirm('Delete this widget?')) call('dashboard_widgets.delete', { public_id: w.public_id }).then(load, fail);
                    }}>×</button>
                  )}
                </h3>
                <div class="body"><WidgetBody widget={w} event={eventsById.get(w.event_public_id ?? '')} /></div>
              </div>
            </div>
          </div>
        ))}
      </div>
    </section>
  );
}
