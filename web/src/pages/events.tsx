/** Events: what devices report and dashboards draw; operators create, edit and delete them. */
import { useState } from 'preact/hooks';
import type { EventRecord } from '@telemetry-hub/client';
import { call, canWrite } from '../session.js';
import { fieldsOf, numberOrNull } from './form.js';
import { useList } from './list.js';
import { Choice, ConfirmButton, ErrorLine, ListTable, PageHead, useAction } from './ui.js';

const EVENT_TYPES = ['sensor', 'actuator', 'range', 'cmd_button', 'cmd_opened', 'cmd_closed'] as const;
type EventType = (typeof EVENT_TYPES)[number];

function EventForm({ event, onDone }: { event: EventRecord | null; onDone: () => void }) {
  const action = useAction();
  const submit = (e: SubmitEvent): void => {
    const f = fieldsOf(e);
    const fields = {
      name: f.get('name'),
      unit: f.get('unit'),
      event_type: f.get('event_type') as EventType,
      min_value: numberOrNull(f.get('min_value')),
      max_value: numberOrNull(f.get('max_value')),
    };
    void action
      .run(() => (event === null ? call('events.create', fields) : call('events.update', { public_id: event.public_id, ...fields })))
      .then((ok) => {
        if (!ok) return;
        f.form.reset();
        onDone();
      });
  };
  return (
    <form id="event-form" class="panel" onSubmit={submit}>
      <h3>{event === null ? 'New event' : `Edit ${event.name}`}</h3>
      <label>Name<input name="name" required maxLength={100} defaultValue={event?.name ?? ''} /></label>
      <label>
        Kind
        <Choice name="event_type" initial={event?.event_type ?? 'sensor'} options={EVENT_TYPES.map((t) => [t, t] as const)} />
      </label>
      <label>Unit<input name="unit" maxLength={20} defaultValue={event?.unit ?? ''} /></label>
      <label>Min<input name="min_value" type="number" step="any" defaultValue={event?.min_value ?? ''} /></label>
      <label>Max<input name="max_value" type="number" step="any" defaultValue={event?.max_value ?? ''} /></label>
      <div class="buttons">
        <button disabled={action.busy}>{event === null ? 'Create' : 'Save'}</button>
        {event !== null && <button type="button" class="quiet" onClick={onDone}>Cancel</button>}
      </div>
      <ErrorLine text={action.error} />
    </form>
  );
}

export function EventsPage() {
  const list = useList('events.list');
  const [editing, setEditing] = useState<EventRecord | null>(null);
  const action = useAction();
  const write = canWrite();
  const done = (): void => {
    setEditing(null);
    list.reload();
  };
  return (
    <section class="page" id="page-events">
      <PageHead title="Events" />
      {write && <EventForm key={editing?.public_id ?? 'new'} event={editing} onDone={done} />}
      <ErrorLine text={action.error} />
      <ListTable
        list={list}
        label="events"
        id="events-table"
        head={write ? ['Name', 'Kind', 'Unit', 'Min', 'Max', ''] : ['Name', 'Kind', 'Unit', 'Min', 'Max']}
        row={(ev) => (
          <tr key={ev.public_id}>
            <td>{ev.name}</td>
            <td>{ev.event_type}</td>
            <td>{ev.unit}</td>
            <td>{ev.min_value ?? '—'}</td>
            <td>{ev.max_value ?? '—'}</td>
            {write && (
              <td class="actions">
                <button type="button" class="quiet" onClick={() => setEditing(ev)}>Edit</button>
                <ConfirmButton label="Delete" onConfirm={() => action.run(() => call('events.delete', { public_id: ev.public_id })).then(done)} />
              </td>
            )}
          </tr>
        )}
      />
    </section>
  );
}
