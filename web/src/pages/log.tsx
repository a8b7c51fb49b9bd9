/**
 * The log, newest first, live from the `log_entries` topic; operators mark entries read (one,
 * or every unread one), which moves the count in the header. @see PROTOCOL.md §11
 */
import { useState } from 'preact/hooks';
import { when } from '../format.js';
import { call, canWrite } from '../session.js';
import { debounce, useList } from './list.js';
import { refreshUnread, unread, useTopic } from './notices.js';
import { Badge, ErrorLine, ListTable, PageHead, useAction } from './ui.js';

const SHOW = [
  ['', 'all entries'],
  ['unread', 'unread only'],
  ['read', 'read only'],
] as const;

/** Updates sent at once: the hub caps each caller's requests in flight (8 by default), with 429 beyond. */
const AT_ONCE = 4;

/** Marks every unread entry read, a page at a time (no bulk op exists). */
async function markAllRead(): Promise<void> {
  for (let round = 0; round < 100; round++) {
    const page = await call('log_entries.list', { page_size: 100, filter: { status_type: 'unread' } });
    if (page.items.length === 0) return;
    for (let i = 0; i < page.items.length; i += AT_ONCE) {
      await Promise.all(page.items.slice(i, i + AT_ONCE).map((e) => call('log_entries.update', { public_id: e.public_id, status_type: 'read' })));
    }
  }
}

export function LogPage() {
  const [show, setShow] = useState('');
  const list = useList('log_entries.list', { order: 'desc', pageSize: 50, ...(show === '' ? {} : { filter: { status_type: show } }) });
  const action = useAction();
  const write = canWrite();
  const [reload] = useState(() => debounce(list.reload, 300));
  useTopic(['log_entries'], (push) => {
    if (push.op === 'log_entry' && list.page === 1) reload();
  });
  const after = (): void => {
    list.reload();
    refreshUnread();
  };
  return (
    <section class="page" id="page-log">
      <PageHead title="Log">
        <span id="log-unread" class="muted">{unread.value ?? '…'} unread</span>
        <label class="inline">
          Show
          <select aria-label="show" onChange={(e) => setShow(e.currentTarget.value)}>
            {SHOW.map(([v, l]) => (
              <option key={v} value={v} selected={v === show}>{l}</option>
            ))}
          </select>
        </label>
        {write && (
          <button type="button" disabled={action.busy || unread.value === 0} onClick={() => void action.run(markAllRead).then(after)}>
            Mark all read
          </button>
        )}
      </PageHead>
      <ErrorLine text={action.error} />
      <ListTable
        list={list}
        label="entries"
        id="log-table"
        head={['Time', 'Type', 'Entry', '']}
        row={(e) => (
          <tr key={e.public_id} class={e.status_type === 'unread' ? 'unread' : ''} data-status={e.status_type}>
            <td class="nowrap">{when(e.created_on)}</td>
            <td><Badge value={e.logging_type} /></td>
            <td class="wrap">{e.content}</td>
            <td class="actions">
              {e.status_type === 'unread' && write && (
                <button type="button" class="quiet" onClick={() => void action.run(() => call('log_entries.update', { public_id: e.public_id, status_type: 'read' })).then(after)}>
                  Mark read
                </button>
              )}
              {e.status_type === 'unread' && !write && <span class="muted">unread</span>}
            </td>
          </tr>
        )}
      />
    </section>
  );
}
