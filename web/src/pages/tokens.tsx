/**
 * API tokens: admins create them (for a user, or bound to a plugin instance: a device token) and
 * revoke them; the secret is shown once, with a copy button. Others see their own tokens.
 * @see PROTOCOL.md §8
 */
import { useState } from 'preact/hooks';
import type { ApiTokenRecord } from '@telemetry-hub/client';
import { agoIso, when } from '../format.js';
import { call, isAdmin } from '../session.js';
import { fieldsOf, isoOrNull } from './form.js';
import { useAll, useList } from './list.js';
import { Choice, ConfirmButton, ErrorLine, ListTable, PageHead, useAction } from './ui.js';

function Secret({ token, onClose }: { token: ApiTokenRecord; onClose: () => void }) {
  const [copied, setCopied] = useState('');
  const copy = (): void => {
    navigator.clipboard.writeText(token.token ?? '').then(
      () => setCopied('Copied.'),
      () => setCopied('The browser refused the clipboard: select the text and copy it.'),
    );
  };
  return (
    <div class="panel wide" id="new-token" role="region" aria-label="new token">
      <h3>Token “{token.name}” created</h3>
      <p>This is the only time the hub shows it: store it now.</p>
      <code class="secret" id="token-secret">{token.token}</code>
      <div class="buttons">
        <button type="button" onClick={copy}>Copy</button>
        <button type="button" class="quiet" onClick={onClose}>Done</button>
        <span class="muted" role="status">{copied}</span>
      </div>
    </div>
  );
}

export function TokensPage() {
  const admin = isAdmin();
  const list = useList('api_tokens.list', { order: 'desc' });
  const instances = useAll('plugin_instances.list', !admin);
  const action = useAction();
  const [created, setCreated] = useState<ApiTokenRecord | null>(null);
  const create = (e: SubmitEvent): void => {
    const f = fieldsOf(e);
    const instance = f.get('plugin_instance_public_id');
    void action.run(async () => {
      const token = await call('api_tokens.create', {
        name: f.get('name'),
        plugin_instance_public_id: instance === '' ? null : instance,
        expires_at: isoOrNull(f.get('expires_at')),
      });
      f.form.reset();
      setCreated(token);
      list.reload();
    });
  };
  const instanceName = (id: string | null): string => (id === null ? 'user' : `device: ${instances.find((i) => i.public_id === id)?.instance_name ?? id}`);
  return (
    <section class="page" id="page-tokens">
      <PageHead title="API tokens" />
      {admin && (
        <form id="token-form" class="panel" onSubmit={create}>
          <h3>New token</h3>
          <label>Name<input name="name" required maxLength={100} /></label>
          <label>
            Acts as
            <Choice name="plugin_instance_public_id" initial="" options={[['', 'me (my role)'], ...instances.map((i) => [i.public_id, `device ${i.instance_name}`] as const)]} />
          </label>
          <label>Expires<input name="expires_at" type="datetime-local" /></label>
          <div class="buttons"><button disabled={action.busy}>Create</button></div>
        </form>
      )}
      <ErrorLine text={action.error} />
      {created !== null && <Secret token={created} onClose={() => setCreated(null)} />}
      <ListTable
        list={list}
        label="tokens"
        id="tokens-table"
        head={['Name', 'Kind', 'Created', 'Expires', 'Last used', ...(admin ? [''] : [])]}
        row={(t) => (
          <tr key={t.public_id}>
            <td>{t.name}</td>
            <td>{admin ? instanceName(t.plugin_instance_public_id) : t.plugin_instance_public_id === null ? 'user' : 'device'}</td>
            <td>{when(t.created_on)}</td>
            <td>{t.expires_at === null ? 'never' : when(t.expires_at)}</td>
            <td title={when(t.last_used_at)}>{agoIso(t.last_used_at)}</td>
            {admin && (
              <td class="actions">
                <ConfirmButton label="Revoke" onConfirm={() => action.run(() => call('api_tokens.delete', { public_id: t.public_id })).then(list.reload)} />
              </td>
            )}
          </tr>
        )}
      />
    </section>
  );
}
