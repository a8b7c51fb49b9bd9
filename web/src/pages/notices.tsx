/**
 * What arrives unasked while logged in (PROTOCOL.md §11, §14): alerts as toasts, and the count
 * of unread log entries shown in the header, both live from their topics. Pages listen to the
 * same pushes through {@link useTopic}.
 */
import { signal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import type { Push, PushData, Topic } from '@telemetry-hub/client';
import { formatValue } from '../format.js';
import { call, hub, live } from '../session.js';
import { debounce } from './list.js';

/** Unread log entries (null until known). */
export const unread = signal<number | null>(null);
/** Counts alerts received: pages showing rules reload when it moves. */
export const alertCount = signal(0);

interface Toast {
  id: number;
  alert: PushData['alert'];
}
const toasts = signal<Toast[]>([]);
let nextToast = 1;
const TOAST_MS = 15_000;

/** Asks the hub how many log entries are unread. */
export function refreshUnread(): void {
  call('log_entries.list', { page_size: 1, filter: { status_type: 'unread' } }).then(
    (page) => (unread.value = page.total),
    () => undefined, // the count stays as it was; the log page shows its own errors
  );
}
const refreshUnreadSoon = debounce(refreshUnread, 300);

/** Calls `onPush` with each push of `topics` while the component is mounted (resubscribed after a reconnect). */
export function useTopic(topics: readonly Topic[], onPush: (push: Push) => void): void {
  const handler = useRef(onPush);
  handler.current = onPush;
  const key = topics.join(',');
  useEffect(() => {
    let gone = false;
    let sub: { unsubscribe(): Promise<void> } | undefined;
    live()
      .subscribeTopics(topics, (push) => handler.current(push))
      .then(
        (s) => {
          sub = s;
          if (gone) void s.unsubscribe().catch(() => undefined);
        },
        () => undefined,
      );
    return () => {
      gone = true;
      void sub?.unsubscribe().catch(() => undefined);
    };
  }, [key]);
}

const SYMBOLS: Record<string, string> = { gt: '>', gte: '≥', lt: '<', lte: '≤', eq: '=', between: 'between', not_between: 'not between' };

function describe(alert: PushData['alert']): string {
  const high = alert.threshold_high === null ? '' : ` and ${alert.threshold_high}`;
  return `${alert.event_name} = ${formatValue(alert.value)} (${SYMBOLS[alert.operator] ?? alert.operator} ${alert.threshold}${high})`;
}

function dismiss(id: number): void {
  toasts.value = toasts.value.filter((t) => t.id !== id);
}

/** The toasts of live alerts, and the subscriptions behind the header's unread count. */
export function Notices() {
  useEffect(() => {
    refreshUnread();
    // Entries written while the socket was down were pushed to nobody: count again on return.
    return hub().on('open', (ev) => ev.reconnected && refreshUnread());
  }, []);
  useTopic(['alerts', 'log_entries'], (push) => {
    if (push.op === 'log_entry') {
      refreshUnreadSoon();
      return;
    }
    if (push.op !== 'alert') return;
    const id = nextToast++;
    // At most five on screen: a storm of alerts must not cover the page.
    toasts.value = [...toasts.value.slice(-4), { id, alert: push.data as PushData['alert'] }];
    alertCount.value++;
    setTimeout(() => dismiss(id), TOAST_MS);
  });
  return (
    <div id="toasts" role="status" aria-live="polite">
      {toasts.value.map((t) => (
        <div class="toast" key={t.id}>
          <div>
            <strong>{t.alert.rule_name}</strong>
            <div>{describe(t.alert)}</div>
            <div class="muted">{new Date(t.alert.ts).toLocaleTimeString()}</div>
          </div>
          <button type="button" class="quiet" aria-label={`dismiss alert ${t.alert.rule_name}`} onClick={() => dismiss(t.id)}>×</button>
        </div>
      ))}
    </div>
  );
}
