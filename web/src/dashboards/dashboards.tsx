/**
 * Dashboards: the list (the user's own and the global ones, each marked), create, rename,
 * delete; or one dashboard's view. Rename and delete show only where the user may do them.
 */
import 'gridstack/dist/gridstack.min.css';
import './dashboards.css';
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import type { DashboardRecord } from '@telemetry-hub/client';
import { href } from '../router.js';
import { canWrite } from '../session.js';
import { DashboardView } from './dashboard-view.js';
import { failureText, request } from './requests.js';
import { canEditDashboard, myId } from './rights.js';

export function Dashboards(props: { id: string | undefined }) {
  if (props.id !== undefined) return <DashboardView id={props.id} key={props.id} />;
  return <DashboardList />;
}

/** "global", "yours", "global, yours", or another user's. */
function scope(d: DashboardRecord, mine: string | null): string {
  const own = mine !== null && d.user_public_id === mine;
  if (d.is_global) return own ? 'global · yours' : 'global';
  return own ? 'yours' : "another user's";
}

function DashboardList() {
  const items = useSignal<DashboardRecord[] | null>(null);
  const mine = useSignal<string | null>(null);
  const error = useSignal('');
  const load = (): void => {
    Promise.all([request('dashboards.list', { page_size: 500 }), myId()]).then(
      ([list, me]) => {
        mine.value = me;
        // Global ones first, then by name.
        items.value = [...list.items].sort((a, b) => Number(b.is_global) - Number(a.is_global) || a.name.localeCompare(b.name));
      },
      (err: unknown) => (error.value = failureText(err)),
    );
  };
  useEffect(load, []);
  const act = (p: Promise<unknown>): void => {
    error.value = '';
    p.then(load, (err: unknown) => (error.value = failureText(err)));
  };
  const create = (e: SubmitEvent): void => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    act(request('dashboards.create', { name: String(data.get('name')).trim(), is_global: data.get('is_global') === 'on' }));
    form.reset();
  };
  return (
    <section class="dashboards">
      <div class="toolbar"><h2>Dashboards</h2></div>
      {error.value !== '' && <p class="error" role="alert">{error.value}</p>}
      {canWrite() && (
        <form class="toolbar" id="new-dashboard" onSubmit={create}>
          <input name="name" placeholder="new dashboard name" required maxLength={255} aria-label="dashboard name" />
          <label class="inline"><input type="checkbox" name="is_global" /><span>global (everyone sees it)</span></label>
          <button>Create</button>
        </form>
      )}
      {items.value === null ? <p class="muted">Loading…</p> : items.value.length === 0 ? <p class="muted">No dashboards yet.</p> : (
        <div class="table-wrap"><table id="dashboard-list">
          <thead><tr><th>Name</th><th>Scope</th><th>Created</th><th /></tr></thead>
          <tbody>
            {items.value.map((d) => (
              <tr key={d.public_id} data-dashboard={d.public_id}>
                <td><a href={href('dashboards', d.public_id)}>{d.name}</a></td>
                <td><span class={d.is_global ? 'badge' : 'badge own'}>{scope(d, mine.value)}</span></td>
                <td>{new Date(d.created_on).toLocaleString()}</td>
                <td class="actions">
                  {canEditDashboard(d, mine.value) && (
                    <>
                      <button type="button" class="quiet" onClick={() => {
                        const name = prompt('New name', d.name);
                        if (name !== null && name.trim() !== '') act(request('dashboards.update', { public_id: d.public_id, name: name.trim() }));
                      }}>Rename</button>
                      <button type="button" class="danger" onClick={() => {
                        if (confirm(`Delete dashboard ${d.name} and its widgets?`)) act(request('dashboards.delete', { public_id: d.public_id }));
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
