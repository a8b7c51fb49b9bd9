/**
 * Webhooks (admin only, also to list them): where deliveries go, a test ping, and each webhook's deliveries with their
 * status; a dead-lettered one can be retried (PROTOCOL.md §12). Deliveries change without a
 * push, so the open list is fetched again every few seconds.
 */
import { useEffect, useState } from 'preact/hooks';
import type { WebhookRecord } from '@telemetry-hub/client';
import { when } from '../format.js';
import { call, isAdmin } from '../session.js';
import { fieldsOf } from './form.js';
import { useList } from './list.js';
import { WEBHOOK_EVENT_TYPES } from './rules.js';
import { Badge, ConfirmButton, ErrorLine, ListTable, PageHead, useAction } from './ui.js';

const POLL_MS = 2_000;
type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

function Deliveries({ webhook, version }: { webhook: WebhookRecord; version: number }) {
  const list = useList('webhook_deliveries.list', { filter: { webhook_public_id: webhook.public_id }, order: 'desc', pageSize: 10 });
  const action = useAction();
  useEffect(() => list.reload(), [version]);
  useEffect(() => {
    const timer = setInterval(list.reload, POLL_MS);
    return () => clearInterval(timer);
  }, [webhook.public_id]);
  return (
    <div class="panel wide" id="deliveries">
      <h3>Deliveries to {webhook.url}</h3>
      <ErrorLine text={action.error} />
      <ListTable
        list={list}
        label="deliveries"
        id="deliveries-table"
        head={['Created', 'Type', 'Status', 'Attempts', 'Response', 'Last error', 'Delivered', '']}
        row={(d) => (
          <tr key={d.public_id} data-status={d.status}>
            <td>{when(d.created_on)}</td>
            <td>{d.event_type}</td>
            <td><Badge value={d.status} /></td>
            <td>{d.attempts}</td>
            <td>{d.response_code ?? '—'}</td>
            <td class="wrap">{d.last_error ?? ''}</td>
            <td>{when(d.delivered_on)}</td>
            <td class="actions">
              {d.status === 'dead_letter' && (
                <button type="button" onClick={() => void action.run(() => call('webhook_deliveries.retry', { public_id: d.public_id })).then(list.reload)}>Retry</button>
              )}
            </td>
          </tr>
        )}
      />
    </div>
  );
}

export function WebhooksPage() {
  const list = useList('webhooks.list');
  const action = useAction();
  const [open, setOpen] = useState<WebhookRecord | null>(null);
  const [version, setVersion] = useState(0);
  const [note, setNote] = useState('');
  const create = (e: SubmitEvent): void => {
    const f = fieldsOf(e);
    const secret = f.get('secret');
    void action
      .run(() =>
        call('webhooks.create', {
          url: f.get('url'),
          events: f.all('events') as WebhookEventType[],
          enabled: f.checked('enabled'),
          ...(secret === '' ? {} : { secret }),
        }),
      )
      .then((ok) => {
        if (ok) f.form.reset();
        list.reload();
      });
  };
  const test = (hook: WebhookRecord): void => {
    void action.run(async () => {
      const delivery = await call('webhooks.test', { public_id: hook.public_id });
      setNote(`Test ping queued (${delivery.public_id.slice(0, 8)}…)`);
      setOpen(hook);
      setVersion((v) => v + 1);
    });
  };
  return (
    <section class="page" id="page-webhooks">
      <PageHead title="Webhooks" />
      {isAdmin() && (
        <form id="webhook-form" class="panel" onSubmit={create}>
          <h3>New webhook</h3>
          <label class="grow">URL<input name="url" type="url" required placeholder="https://example.com/hook" /></label>
          <label>Secret<input name="secret" type="password" autocomplete="off" placeholder="optional" /></label>
          <fieldset>
            <legend>Events</legend>
            {WEBHOOK_EVENT_TYPES.map((t, i) => (
              <label class="check" key={t}>
                <input type="checkbox" name="events" value={t} defaultChecked={i === 0} />
                {t}
              </label>
            ))}
          </fieldset>
          <label class="check"><input name="enabled" type="checkbox" defaultChecked />Enabled</label>
          <div class="buttons"><button disabled={action.busy}>Create</button></div>
        </form>
      )}
      <ErrorLine text={action.error} />
      {note !== '' && <p class="muted" role="status">{note}</p>}
      <ListTable
        list={list}
        label="webhooks"
        id="webhooks-table"
        head={['URL', 'Events', 'Secret', 'Enabled', '']}
        row={(hook) => (
          <tr key={hook.public_id} class={open?.public_id === hook.public_id ? 'selected' : ''}>
            <td class="wrap">{hook.url}</td>
            <td class="wrap">{hook.events.join(', ')}</td>
            <td>{hook.has_secret ? 'yes' : 'no'}</td>
            <td>
              <button
                type="button"
                class={hook.enabled ? 'toggle on' : 'toggle'}
                aria-pressed={hook.enabled}
                aria-label={`${hook.url} enabled`}
                onClick={() => void action.run(() => call('webhooks.update', { public_id: hook.public_id, enabled: !hook.enabled })).then(list.reload)}
              >
                {hook.enabled ? 'On' : 'Off'}
              </button>
            </td>
            <td class="actions">
              <button type="button" onClick={() => test(hook)}>Test</button>
              <button type="button" class="quiet" aria-expanded={open?.public_id === hook.public_id} onClick={() => setOpen(open?.public_id === hook.public_id ? null : hook)}>
                Deliveries
              </button>
              <ConfirmButton
                label="Delete"
                onConfirm={() =>
                  action.run(() => call('webhooks.delete', { public_id: hook.public_id })).then(() => {
                    if (open?.public_id === hook.public_id) setOpen(null);
                    list.reload();
                  })
                }
              />
            </td>
          </tr>
        )}
      />
      {open !== null && <Deliveries key={open.public_id} webhook={open} version={version} />}
    </section>
  );
}
