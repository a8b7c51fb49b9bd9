/**
 * Dashboards: the list (own and global), create, rename, delete; one dashboard's widgets drawn
 * at their stored x, y, w, h on gridstack's 12 columns; edit mode drags and resizes and saves.
 */
import 'gridstack/dist/gridstack.min.css';
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import type { DashboardRecord } from '@telemetry-hub/client';
import { errorText } from '../format.js';
import { href } from '../router.js';
import { call, canWrite } from '../session.js';
import { DashboardView } from './dashboard-view.js';

export function Dashboards(props: { id: string | undefined }) {
  if (props.id !== undefined) return <DashboardView id={props.id} key={props.id} />;
  return <DashboardList />;
}

function DashboardList() {
  const items = useSignal<DashboardRecord[] | null>(null);
  const error = useSignal('');
  const load = (): void => {
    call('dashboards.list', { page_size: 200 }).then(
      (list) => (items.value = list.items),
      (err: unknown) => (error.value = errorText(err)),
    );
  };
  useEffect(load, []);
  const act = (p: Promise<unknown>): void => {
    p.then(load, (err: unknown) => (error.value = errorText(err)));
  };
  const create = (e: SubmitEvent): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    act(call('dashboards.create', { name: String(data.get('name')), is_global: data.get('is_global') === 'on' }));
    form.reset();
  };
  return (
    <section>
      <div class="toolbar"><h2>Dashboards</h2></div>
      {error.value !== '' && <p class="error">{error.value}</p>}
      {canWrite() && (
        <form class="toolbar" id="new-dashboard" onSubmit={create}>
          <input name="name" placeholder="new dashboard name" required aria-label="dashboard name" />
          <label class="inline"><span>global</span><input type="checkbox" name="is_global" /></label>
          <button>Create</button>
        </form>
      )}
      {items.value === null ? <p class="muted">Loading…</p> : items.value.length === 0 ? <p class="muted">No dashboards yet.</p> : (
        <div class="table-wrap"><table>
          <thead><tr><th>Name</th><th>Scope</th><th>Created</th><th /></tr></thead>
          <tbody>
            {items.value.map((d) => (
              <tr key={d.public_id}>
                <td><a href={href('dashboards', d.public_id)}>{d.name}</a></td>
                <td>{d.is_global ? 'global' : 'own'}</td>
                <td>{new Date(d.created_on).toLocaleString()}</td>
                <td class="actions">
                  {canWrite() && (
                    <>
                      <button type="button" class="quiet" onClick={() => {
                        const name = prompt('New name', d.name);
                        if (name !== null && name !== '') act(call('dashboards.update', { public_id: d.public_id, name }));
                      }}>Rename</button>
                      <button type="button" class="danger" onClick={() => {
                        if (confirm(`Delete dashboard ${d.name}?`)) act(call('dashboards.delete', { public_id: d.public_id }));
                      }}>Delete</button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table></div>
      )}
    </section>
  );
}
