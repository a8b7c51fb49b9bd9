/**
 * The overview (the page the hub always had): one card per event with its latest value, live.
 * It resumes from the last minute, so the demo's readings show at once.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import type { EventRecord } from '@telemetry-hub/client';
import { errorText } from './format.js';
import { useReadings } from './live.js';
import { call } from './session.js';
import { StatValue, type Latest } from './stat.js';

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
  useReadings(ids, Date.now() - 60_000, (event, points, info) => {
    const last = points[points.length - 1];
    if (last === undefined) return;
    latest.value = { ...latest.value, [event]: { ts: last[0], value: last[1], conflated: info.conflated } };
  });
  if (error.value !== '') return <p class="error">{error.value}</p>;
  if (events.value === null) return <p class="muted">Loading…</p>;
  if (events.value.length === 0) return <p class="muted">No events yet.</p>;
  return (
    <div id="grid" class="cards">
      {events.value.map((event) => (
        <div class="card" key={event.public_id}>
          <h2>{event.name + (event.unit ? ` (${event.unit})` : '')}</h2>
          <StatValue latest={latest.value[event.public_id]} />
        </div>
      ))}
    </div>
  );
}
