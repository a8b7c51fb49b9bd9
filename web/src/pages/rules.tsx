/**
 * Rules: a condition on an event's points and what a trigger does (a log entry, or webhook
 * deliveries too), with the last trigger, reloaded live when an alert arrives (PROTOCOL.md §11).
 */
import { useEffect, useState } from 'preact/hooks';
import type { OpRequests, RuleRecord } from '@telemetry-hub/client';
import { agoIso, when } from '../format.js';
import { call, canWrite } from '../session.js';
import { fieldsOf, numberOrNull } from './form.js';
import { useAll, useList } from './list.js';
import { alertCount } from './notices.js';
import { Choice, ConfirmButton, ErrorLine, ListTable, PageHead, useAction } from './ui.js';

type Operator = RuleRecord['operator'];
const OPERATORS: [Operator, string][] = [
  ['gt', '>'],
  ['gte', '≥'],
  ['lt', '<'],
  ['lte', '≤'],
  ['eq', '='],
  ['between', 'between'],
  ['not_between', 'not between'],
];
export const WEBHOOK_EVENT_TYPES = [
  'sensor.threshold_exceeded',
  'sensor.reading',
  'experiment.started',
  'experiment.stopped',
  'firmware.status_changed',
  'device.online',
  'device.offline',
] as const;
type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

function condition(rule: RuleRecord): string {
  const symbol = OPERATORS.find(([op]) => op === rule.operator)?.[1] ?? rule.operator;
  if (rule.operator === 'between' || rule.operator === 'not_between') return `${symbol} ${rule.threshold} and ${rule.threshold_high ?? '?'}`;
  return `${symbol} ${rule.threshold}`;
}

function RuleForm({ rule, onDone }: { rule: RuleRecord | null; onDone: () => void }) {
  const events = useAll('events.list');
  const action = useAction();
  const submit = (e: SubmitEvent): void => {
    const f = fieldsOf(e);
    const webhookType = f.get('webhook_event_type');
    const fields: Omit<OpRequests['rules.create'], 'name'> & { name: string } = {
      name: f.get('name'),
      event_public_id: f.get('event_public_id'),
      operator: f.get('operator') as Operator,
      threshold: Number(f.get('threshold')),
      threshold_high: numberOrNull(f.get('threshold_high')),
      action_type: f.get('action_type') as 'log' | 'webhook',
      webhook_event_type: webhookType === '' ? null : (webhookType as WebhookEventType),
      cooldown_seconds: Number(f.get('cooldown_seconds')),
      enabled: f.checked('enabled'),
    };
    void action
      .run(() => (rule === null ? call('rules.create', fields) : call('rules.update', { public_id: rule.public_id, ...fields })))
      .then((ok) => {
        if (!ok) return;
        f.form.reset();
        onDone();
      });
  };
  return (
    <form id="rule-form" class="panel" onSubmit={submit}>
      <h3>{rule === null ? 'New rule' : `Edit ${rule.name}`}</h3>
      <label>Name<input name="name" required maxLength={100} defaultValue={rule?.name ?? ''} /></label>
      <label>
        Event
        <Choice name="event_public_id" required initial={rule?.event_public_id} options={events.map((ev) => [ev.public_id, ev.name] as const)} />
      </label>
      <label>
        When value is
        <Choice name="operator" initial={rule?.operator ?? 'gt'} options={OPERATORS} />
      </label>
      <label>Threshold<input name="threshold" type="number" step="any" required defaultValue={rule?.threshold ?? ''} /></label>
      <label>High threshold<input name="threshold_high" type="number" step="any" defaultValue={rule?.threshold_high ?? ''} placeholder="between only" /></label>
      <label>
        Action
        <Choice
          name="action_type"
          initial={rule?.action_type ?? 'log'}
          options={[
            ['log', 'log entry and alert'],
            ['webhook', '…and webhooks'],
          ]}
        />
      </label>
      <label>
        Webhook event
        <Choice
          name="webhook_event_type"
          initial={rule?.webhook_event_type ?? ''}
          options={[['', 'default (threshold exceeded)'], ...WEBHOOK_EVENT_TYPES.map((t) => [t, t] as const)]}
        />
      </label>
      <label>Cooldown (s)<input name="cooldown_seconds" type="number" min="0" step="1" required defaultValue={rule?.cooldown_seconds ?? 60} /></label>
      <label class="check"><input name="enabled" type="checkbox" defaultChecked={rule?.enabled ?? true} />Enabled</label>
      <div class="buttons">
        <button disabled={action.busy || events.length === 0}>{rule === null ? 'Create' : 'Save'}</button>
        {rule !== null && <button type="button" class="quiet" onClick={onDone}>Cancel</button>}
      </div>
      <ErrorLine text={action.error} />
    </form>
  );
}

export function RulesPage() {
  const list = useList('rules.list');
  const events = useAll('events.list');
  const [editing, setEditing] = useState<RuleRecord | null>(null);
  const action = useAction();
  const write = canWrite();
  // A trigger moves `last_triggered_at`: show it as it happens.
  const alerts = alertCount.value;
  useEffect(() => {
    if (alerts > 0) list.reload();
  }, [alerts]);
  const done = (): void => {
    setEditing(null);
    list.reload();
  };
  const eventName = (id: string): string => events.find((e) => e.public_id === id)?.name ?? id;
  return (
    <section class="page" id="page-rules">
      <PageHead title="Rules" />
      {write && <RuleForm key={editing?.public_id ?? 'new'} rule={editing} onDone={done} />}
      <ErrorLine text={action.error} />
      <ListTable
        list={list}
        label="rules"
        id="rules-table"
        head={['Name', 'Event', 'Condition', 'Action', 'Cooldown', 'Enabled', 'Last trigger', ...(write ? [''] : [])]}
        row={(rule) => (
          <tr key={rule.public_id}>
            <td>{rule.name}</td>
            <td>{eventName(rule.event_public_id)}</td>
            <td>{condition(rule)}</td>
            <td>{rule.action_type === 'webhook' ? `webhook (${rule.webhook_event_type ?? 'sensor.threshold_exceeded'})` : 'log'}</td>
            <td>{rule.cooldown_seconds} s</td>
            <td>
              {write ? (
                <button
                  type="button"
                  class={rule.enabled ? 'toggle on' : 'toggle'}
                  aria-pressed={rule.enabled}
                  aria-label={`${rule.name} enabled`}
                  onClick={() => void action.run(() => call('rules.update', { public_id: rule.public_id, enabled: !rule.enabled })).then(list.reload)}
                >
                  {rule.enabled ? 'On' : 'Off'}
                </button>
              ) : rule.enabled ? (
                'on'
              ) : (
                'off'
              )}
            </td>
            <td class="last-trigger" title={when(rule.last_triggered_at)}>{agoIso(rule.last_triggered_at)}</td>
            {write && (
              <td class="actions">
                <button type="button" class="quiet" onClick={() => setEditing(rule)}>Edit</button>
                <ConfirmButton label="Delete" onConfirm={() => action.run(() => call('rules.delete', { public_id: rule.public_id })).then(done)} />
              </td>
            )}
          </tr>
        )}
      />
    </section>
  );
}
