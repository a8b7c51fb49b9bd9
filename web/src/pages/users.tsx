/**
 * Users (admin only): create, change a role, delete. A role change closes that user's sockets
 * (they log in again with the new role). @see PROTOCOL.md §2
 */
import type { UserRecord } from '@telemetry-hub/client';
import { when } from '../format.js';
import { call, isAdmin, username } from '../session.js';
import { fieldsOf } from './form.js';
import { useList } from './list.js';
import { Choice, ConfirmButton, ErrorLine, ListTable, PageHead, useAction } from './ui.js';

type Role = UserRecord['role'];
const ROLES = [
  ['viewer', 'viewer'],
  ['operator', 'operator'],
  ['admin', 'admin'],
] as const;

export function UsersPage() {
  const admin = isAdmin();
  const list = useList('users.list', { skip: !admin });
  const action = useAction();
  if (!admin) return <p class="error" role="alert">Only admins manage users.</p>;
  const create = (e: SubmitEvent): void => {
    const f = fieldsOf(e);
    const email = f.get('email');
    void action
      .run(() => call('users.create', { username: f.get('username'), password: f.get('password'), role: f.get('role') as Role, email: email === '' ? null : email }))
      .then((ok) => {
        if (ok) f.form.reset();
        list.reload();
      });
  };
  return (
    <section class="page" id="page-users">
      <PageHead title="Users" />
      <form id="user-form" class="panel" onSubmit={create}>
        <h3>New user</h3>
        <label>Username<input name="username" required minLength={2} maxLength={50} autocomplete="off" /></label>
        <label>Password<input name="password" type="password" required minLength={8} autocomplete="new-password" /></label>
        <label>Email<input name="email" type="email" /></label>
        <label>Role<Choice name="role" initial="viewer" options={ROLES} /></label>
        <div class="buttons"><button disabled={action.busy}>Create</button></div>
      </form>
      <ErrorLine text={action.error} />
      <ListTable
        list={list}
        label="users"
        id="users-table"
        head={['Username', 'Email', 'Role', 'Created', '']}
        row={(u) => {
          const self = u.username === username.value;
          return (
            <tr key={u.public_id}>
              <td>{u.username}{self && <span class="muted"> (you)</span>}</td>
              <td>{u.email ?? ''}</td>
              <td>
                <select
                  key={u.role}
                  aria-label={`role of ${u.username}`}
                  disabled={self}
                  onChange={(e) => {
                    const role = e.currentTarget.value as Role;
                    void action.run(() => call('users.update', { public_id: u.public_id, role })).then(list.reload);
                  }}
                >
                  {ROLES.map(([value]) => (
                    <option key={value} value={value} selected={u.role === value}>{value}</option>
                  ))}
                </select>
              </td>
              <td>{when(u.created_on)}</td>
              <td class="actions">
                {!self && <ConfirmButton label="Delete" onConfirm={() => action.run(() => call('users.delete', { public_id: u.public_id })).then(list.reload)} />}
              </td>
            </tr>
          );
        }}
      />
    </section>
  );
}
