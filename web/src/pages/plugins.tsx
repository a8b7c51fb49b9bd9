/**
 * Plugin instances (devices) with their presence and last frame, live from the `devices` topic,
 * and each instance's channel mappings (channel → event). Admins create and delete both.
 * @see PROTOCOL.md §5, §13
 */
import { useState } from 'preact/hooks';
import type { PluginInstanceRecord } from '@telemetry-hub/client';
import { agoIso, when } from '../format.js';
import { call, isAdmin } from '../session.js';
import { fieldsOf } from './form.js';
import { useAll, useList } from './list.js';
import { useTopic } from './notices.js';
import { Badge, Choice, ConfirmButton, ErrorLine, ListTable, PageHead, useAction, useNow } from './ui.js';

const DIRECTIONS = [
  ['input', 'input (device → hub)'],
  ['output', 'output (hub → device)'],
  ['bidirectional', 'both ways'],
] as const;

function Channels({ instance }: { instance: PluginInstanceRecord }) {
  const list = useList('channel_mappings.list', { filter: { plugin_instance_public_id: instance.public_id }, pageSize: 50 });
  const events = useAll('events.list');
  const action = useAction();
  const admin = isAdmin();
  const create = (e: SubmitEvent): void => {
    const f = fieldsOf(e);
    const event = f.get('event_public_id');
    void action
      .run(() =>
        call('channel_mappings.create', {
          plugin_instance_public_id: instance.public_id,
          channel_id: f.get('channel_id'),
          channel_name: f.get('channel_name'),
          direction: f.get('direction') as 'input' | 'output' | 'bidirectional',
          unit: f.get('unit'),
          event_public_id: event === '' ? null : event,
        }),
      )
      .then((ok) => {
        if (ok) f.form.reset();
        list.reload();
      });
  };
  const eventName = (id: string | null): string => (id === null ? '—' : (events.find((e) => e.public_id === id)?.name ?? id));
  return (
    <div class="panel wide" id="channels">
      <h3>Channels of {instance.instance_name}</h3>
      {admin && (
        <form id="channel-form" onSubmit={create}>
          <label>Channel id<input name="channel_id" required maxLength={100} /></label>
          <label>Name<input name="channel_name" maxLength={100} /></label>
          <label>Direction<Choice name="direction" initial="input" options={DIRECTIONS} /></label>
          <label>Unit<input name="unit" maxLength={20} /></label>
          <label>Event<Choice name="event_public_id" initial="" options={[['', '— none —'], ...events.map((e) => [e.public_id, e.name] as const)]} /></label>
          <div class="buttons"><button disabled={action.busy}>Add channel</button></div>
        </form>
      )}
      <ErrorLine text={action.error} />
      <ListTable
        list={list}
        label="channels"
        id="channels-table"
        head={['Channel', 'Name', 'Direction', 'Unit', 'Event', ...(admin ? [''] : [])]}
        row={(m) => (
          <tr key={m.public_id}>
            <td>{m.channel_id}</td>
            <td>{m.channel_name ?? ''}</td>
            <td>{m.direction}</td>
            <td>{m.unit ?? ''}</td>
            <td>{eventName(m.event_public_id)}</td>
            {admin && (
              <td class="actions">
                <ConfirmButton label="Delete" onConfirm={() => action.run(() => call('channel_mappings.delete', { public_id: m.public_id })).then(list.reload)} />
              </td>
            )}
          </tr>
        )}
      />
    </div>
  );
}

export function PluginsPage() {
  const list = useList('plugin_instances.list');
  const action = useAction();
  const admin = isAdmin();
  const [open, setOpen] = useState<PluginInstanceRecord | null>(null);
  useNow(5_000); // "last seen 12 s ago" ages without a push
  useTopic(['devices'], (push) => {
    if (push.op === 'device') list.reload();
  });
  const create = (e: SubmitEvent): void => {
    const f = fieldsOf(e);
    void action
      .run(() => call('plugin_instances.create', { plugin_id: f.get('plugin_id'), instance_name: f.get('instance_name'), demo_mode: f.checked('demo_mode'), enabled: f.checked('enabled') }))
      .then((ok) => {
        if (ok) f.form.reset();
        list.reload();
      });
  };
  const act = (fn: () => Promise<unknown>): void => void action.run(fn).then(list.reload);
  return (
    <section class="page" id="page-plugins">
      <PageHead title="Plugin instances" />
      {admin && (
        <form id="instance-form" class="panel" onSubmit={create}>
          <h3>New instance</h3>
          <label>Driver (plugin id)<input name="plugin_id" required maxLength={100} placeholder="modbus" /></label>
          <label>Instance name<input name="instance_name" required maxLength={100} /></label>
          <label class="check"><input name="demo_mode" type="checkbox" />Demo mode</label>
          <label class="check"><input name="enabled" type="checkbox" defaultChecked />Enabled</label>
          <div class="buttons"><button disabled={action.busy}>Create</button></div>
        </form>
      )}
      <ErrorLine text={action.error} />
      <ListTable
        list={list}
        label="instances"
        id="instances-table"
        head={['Instance', 'Driver', 'Presence', 'Last seen', 'Firmware', 'Enabled', '']}
        row={(inst) => (
          <tr key={inst.public_id} class={open?.public_id === inst.public_id ? 'selected' : ''}>
            <td>{inst.instance_name}</td>
            <td>{inst.plugin_id}</td>
            <td><Badge value={inst.status} /></td>
            <td title={when(inst.last_seen_at)}>{agoIso(inst.last_seen_at)}</td>
            <td>{String(inst['firmware_version'] ?? '—')}</td>
            <td>
              {admin ? (
                <button
                  type="button"
                  class={inst.enabled ? 'toggle on' : 'toggle'}
                  aria-pressed={inst.enabled}
                  aria-label={`${inst.instance_name} enabled`}
                  onClick={() => act(() => call('plugin_instances.update', { public_id: inst.public_id, enabled: !inst.enabled }))}
                >
                  {inst.enabled ? 'On' : 'Off'}
                </button>
              ) : inst.enabled ? (
                'yes'
              ) : (
                'no'
              )}
            </td>
            <td class="actions">
              <button type="button" class="quiet" aria-expanded={open?.public_id === inst.public_id} onClick={() => setOpen(open?.public_id === inst.public_id ? null : inst)}>Channels</button>
              {admin && (
                <ConfirmButton
                  label="Delete"
                  onConfirm={() =>
                    act(async () => {
                      await call('plugin_instances.delete', { public_id: inst.public_id });
                      if (open?.public_id === inst.public_id) setOpen(null);
                    })
                  }
                />
              )}
            </td>
          </tr>
        )}
      />
      {open !== null && <Channels key={open.public_id} instance={open} />}
    </section>
  );
}
