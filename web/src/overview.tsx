/**
 * The overview (the page the hub always had): one card per event with its latest value, live.
 * It resumes from the last minute, so the demo's readings show at once. Above the cards, links
 * to the global dashboards; on a browser's first visit the demo dashboard (seeded by the demo,
 * src/domain/demo.ts) opens by itself, so a newcomer sees live charts without a step.
 */
import './dashboards/dashboards.css';
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import type { DashboardRecord, EventRecord } from '@telemetry-hub/client';
import { cancelDraw, drawNextFrame } from './dashboards/frame.js';
import { errorText } from './format.js';
import { useReadings } from './live.js';
import { go, href } from './router.js';
import { call } from './session.js';
import { StatValue, type Latest } from './stat.js';

/** The name of the global dashboard the demo seeds. */
export const DEMO_DASHBOARD = 'Demo';
const VISITED_KEY = 'hub-visited';

/** Links to the global dashboards, the demo's first; the first visit opens the demo's. */
function DashboardLinks() {
  const global = useSignal<DashboardRecord[]>([]);
  useEffect(() => {
    call('dashboards.list', { page_size: 50, filter: { is_global: true } }).then((list) => {
      const items = [...list.items].sort((a, b) => Number(b.name === DEMO_DASHBOARD) - Number(a.name === DEMO_DASHBOARD) || a.name.localeCompare(b.name));
      global.value = items;
      const first = localStorage.getItem(VISITED_KEY) === null;
      localStorage.setItem(VISITED_KEY, '1');
      const demo = items.find((d) => d.name === DEMO_DASHBOARD);
      if (first && demo !== undefined) go('dashboards', demo.public_id);
    }, () => undefined);
  }, []);
  if (global.value.length === 0) return null;
  return (
    <nav class="dashboard-links" aria-label="global dashboards">
      <span class="muted">Dashboards:</span>
      {global.value.map((d) => (
        <a key={d.public_id} href={href('dashboards', d.public_id)} class={d.name === DEMO_DASHBOARD ? 'featured' : ''}>{d.name}</a>
      ))}
    </nav>
  );
}

export function Overview() {
  const events = useSignal<EventRecord[] | null>(null);
  const latest = useSignal<Record<string, Latest>>({});
  const error = useSignal('');
  useEffect(() => {
    call('events.list', { page_size: 500 }).then(
      (list) => (events.value = list.items),
      (err: unknown) => (error.value = errorText(err)),
    );
  }, []);
  const ids = (events.value ?? []).map((e) => e.public_id);
  // Pushes are gathered and shown once per frame (a burst of pushes renders the cards once).
  const incoming = useRef<Record<string, Latest>>({});
  const show = useRef(() => {
    latest.value = { ...latest.value, ...incoming.current };
    incoming.current = {};
  });
  useEffect(() => () => cancelDraw(show.current), []);
  useReadings(ids, Date.now() - 60_000, (event, points, info) => {
    const last = points[points.length - 1];
    if (last === undefined) return;
    incoming.current[event] = { ts: last[0], value: last[1], conflated: info.conflated };
    drawNextFrame(show.current);
  });
  if (error.value !== '') return <p class="error">{error.value}</p>;
  if (events.value === null) return <p class="muted">Loading…</p>;
  if (events.value.length === 0) return <p class="muted">No events yet.</p>;
  return (
    <>
      <DashboardLinks />
      <div id="grid" class="cards">
        {events.value.map((event) => (
          <div class="card" key={event.public_id}>
            <h2>{event.name + (event.unit ? ` (${event.unit})` : '')}</h2>
            <StatValue latest={latest.value[event.public_id]} />
          </div>
        ))}
      </div>
    </>
  );
}
