/**
 * Firmware (admin writes, anyone reads): create an update, upload its file with a progress bar,
 * apply (start the roll-out) or roll back; each device's progress comes live from the `firmware`
 * topic (PROTOCOL.md §13).
 */
import { useEffect, useState } from 'preact/hooks';
import type { FirmwareUpdateRecord, PluginInstanceRecord } from '@telemetry-hub/client';
import { agoIso, bytes, errorText, when } from '../format.js';
import { call, isAdmin } from '../session.js';
import { fieldsOf } from './form.js';
import { debounce, useList } from './list.js';
import { useTopic } from './notices.js';
import { Badge, ConfirmButton, ErrorLine, ListTable, PageHead, useAction } from './ui.js';
import { uploadFile, type UploadProgress } from './upload.js';

interface Uploading {
  id: string;
  name: string;
  progress: UploadProgress;
  done: boolean;
  error: string;
}

function percent(p: UploadProgress): number {
  return p.total === 0 ? 100 : Math.round((p.loaded / p.total) * 100);
}

/** The devices working on (or done with) one update. */
function Devices({ update, version }: { update: FirmwareUpdateRecord; version: number }) {
  const list = useList('plugin_instances.list', { filter: { firmware_update_public_id: update.public_id }, pageSize: 50 });
  useEffect(() => list.reload(), [version]);
  return (
    <div class="panel wide" id="firmware-devices">
      <h3>Devices on {update.version}</h3>
      <ListTable
        list={list}
        label="devices"
        id="firmware-devices-table"
        head={['Instance', 'Presence', 'Step', 'Installed version', 'Last seen']}
        row={(inst: PluginInstanceRecord) => (
          <tr key={inst.public_id}>
            <td>{inst.instance_name}</td>
            <td><Badge value={inst.status} /></td>
            <td><Badge value={String(inst['firmware_status'] ?? 'none')} /></td>
            <td>{String(inst['firmware_version'] ?? '—')}</td>
            <td>{agoIso(inst.last_seen_at)}</td>
          </tr>
        )}
      />
    </div>
  );
}

export function FirmwarePage() {
  const list = useList('firmware_updates.list', { order: 'desc' });
  const action = useAction();
  const admin = isAdmin();
  const [uploading, setUploading] = useState<Uploading | null>(null);
  const [open, setOpen] = useState<FirmwareUpdateRecord | null>(null);
  const [version, setVersion] = useState(0);
  const [lastReport, setLastReport] = useState('');
  const [reload] = useState(() => debounce(() => {
    list.reload();
    setVersion((v) => v + 1);
  }, 300));
  useTopic(['firmware'], (push) => {
    if (push.op !== 'firmware') return;
    const data = push.data as { version: string; plugin_instance_public_id: string; status: string; error?: string };
    setLastReport(`${data.version}: a device reports ${data.status}${data.error === undefined ? '' : ` (${data.error})`}`);
    reload();
  });
  const create = (e: SubmitEvent): void => {
    const f = fieldsOf(e);
    void action.run(() => call('firmware_updates.create', { version: f.get('version'), release_notes: f.get('release_notes') })).then((ok) => {
      if (ok) f.form.reset();
      list.reload();
    });
  };
  const upload = (update: FirmwareUpdateRecord, input: HTMLInputElement): void => {
    const file = input.files?.[0];
    if (file === undefined) return;
    const state: Uploading = { id: update.public_id, name: file.name, progress: { loaded: 0, total: file.size }, done: false, error: '' };
    setUploading(state);
    uploadFile<FirmwareUpdateRecord>('firmware_updates', update.public_id, file, (progress) => setUploading((u) => (u?.id === update.public_id ? { ...u, progress } : u))).then(
      () => {
        setUploading((u) => (u?.id === update.public_id ? { ...u, done: true } : u));
        list.reload();
      },
      (err: unknown) => setUploading((u) => (u?.id === update.public_id ? { ...u, error: errorText(err) } : u)),
    );
    input.value = '';
  };
  const act = (fn: () => Promise<unknown>): void => void action.run(fn).then(list.reload);
  return (
    <section class="page" id="page-firmware">
      <PageHead title="Firmware" />
      {admin && (
        <form id="firmware-form" class="panel" onSubmit={create}>
          <h3>New update</h3>
          <label>Version<input name="version" required pattern="\d+\.\d+\.\d+" placeholder="1.2.3" /></label>
          <label class="grow">Release notes<input name="release_notes" maxLength={2000} /></label>
          <div class="buttons"><button disabled={action.busy}>Create</button></div>
        </form>
      )}
      <ErrorLine text={action.error} />
      {uploading !== null && (
        <div class="panel upload" id="upload-progress">
          <label>
            Uploading {uploading.name}
            <progress max={100} value={percent(uploading.progress)} />
          </label>
          <span class={uploading.error === '' ? 'muted' : 'error'} id="upload-state">
            {uploading.error !== '' ? uploading.error : uploading.done ? `done (${bytes(uploading.progress.total)})` : `${percent(uploading.progress)} %`}
          </span>
        </div>
      )}
      {lastReport !== '' && <p class="muted" role="status">{lastReport}</p>}
      <ListTable
        list={list}
        label="updates"
        id="firmware-table"
        head={['Version', 'Status', 'File', 'Devices', 'Created', '']}
        row={(u) => {
          const counts = u as FirmwareUpdateRecord & { devices_in_progress?: number; devices_completed?: number; devices_failed?: number };
          return (
            <tr key={u.public_id} class={u.status === 'applying' ? 'highlight' : ''}>
              <td>
                {u.version}
                {u.release_notes ? <div class="muted">{u.release_notes}</div> : null}
              </td>
              <td><Badge value={u.status} /></td>
              <td>{u.has_file ? <span title={u.file_hash_sha256 ?? ''}>{bytes(u.file_size_bytes)} · sha256 {u.file_hash_sha256?.slice(0, 12)}…</span> : 'no file'}</td>
              <td>
                {counts.devices_in_progress ?? 0} in progress · {counts.devices_completed ?? 0} done · {counts.devices_failed ?? 0} failed
              </td>
              <td>{when(u.created_on)}</td>
              <td class="actions">
                {admin && (
                  <label class="button quiet file">
                    Upload file
                    <input type="file" class="visually-hidden" aria-label={`upload file for ${u.version}`} onChange={(e) => upload(u, e.currentTarget)} />
                  </label>
                )}
                {admin && ['pending', 'failed', 'rolled_back'].includes(u.status) && (
                  <button type="button" disabled={!u.has_file} title={u.has_file ? '' : 'upload a file first'} onClick={() => act(() => call('firmware_updates.apply', { public_id: u.public_id }))}>
                    Apply
                  </button>
                )}
                {admin && ['applying', 'completed', 'failed'].includes(u.status) && (
                  <button type="button" class="quiet" onClick={() => act(() => call('firmware_updates.rollback', { public_id: u.public_id }))}>Roll back</button>
                )}
                <button type="button" class="quiet" aria-expanded={open?.public_id === u.public_id} onClick={() => setOpen(open?.public_id === u.public_id ? null : u)}>Devices</button>
                {admin && <ConfirmButton label="Delete" onConfirm={() => act(() => call('firmware_updates.delete', { public_id: u.public_id }))} />}
              </td>
            </tr>
          );
        }}
      />
      {open !== null && <Devices key={open.public_id} update={open} version={version} />}
    </section>
  );
}
