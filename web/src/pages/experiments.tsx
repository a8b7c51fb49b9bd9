/**
 * Experiments: the running one (at most one, PROTOCOL.md §5) is highlighted; operators start and
 * stop them; anyone downloads a CSV of an experiment's points (streamed by the hub).
 */
import type { ExperimentRecord } from '@telemetry-hub/client';
import { when } from '../format.js';
import { bearer, call, canWrite } from '../session.js';
import { fieldsOf } from './form.js';
import { useList } from './list.js';
import { Badge, ConfirmButton, ErrorLine, ListTable, PageHead, useAction } from './ui.js';

/** The export route takes the token as `?token=` (a link cannot send a header, PROTOCOL.md §1). */
function csvHref(exp: ExperimentRecord): string {
  return `/api/experiments/${encodeURIComponent(exp.public_id)}/export.csv?token=${encodeURIComponent(bearer())}`;
}

export function ExperimentsPage() {
  const list = useList('experiments.list', { order: 'desc' });
  const action = useAction();
  const write = canWrite();
  const start = (e: SubmitEvent): void => {
    const f = fieldsOf(e);
    void action.run(() => call('experiments.create', { name: f.get('name') })).then((ok) => {
      if (ok) f.form.reset();
      list.reload();
    });
  };
  const act = (fn: () => Promise<unknown>): void => void action.run(fn).then(list.reload);
  return (
    <section class="page" id="page-experiments">
      <PageHead title="Experiments" />
      {write && (
        <form id="experiment-form" class="panel" onSubmit={start}>
          <label>Name<input name="name" required maxLength={100} /></label>
          <div class="buttons"><button disabled={action.busy}>Start experiment</button></div>
        </form>
      )}
      <ErrorLine text={action.error} />
      <ListTable
        list={list}
        label="experiments"
        id="experiments-table"
        head={['Name', 'Started', 'Stopped', 'State', '']}
        row={(exp) => {
          const running = exp.stopped_on === null;
          return (
            <tr key={exp.public_id} class={running ? 'highlight' : ''} data-running={running ? 'true' : undefined}>
              <td>{exp.name}</td>
              <td>{when(exp.started_on)}</td>
              <td>{when(exp.stopped_on)}</td>
              <td><Badge value={running ? 'running' : 'stopped'} /></td>
              <td class="actions">
                {write && running && (
                  <button type="button" onClick={() => act(() => call('experiments.stop', { public_id: exp.public_id }))}>Stop</button>
                )}
                <a class="button quiet" href={csvHref(exp)} download={`experiment-${exp.name}.csv`}>CSV</a>
                {write && <ConfirmButton label="Delete" onConfirm={() => act(() => call('experiments.delete', { public_id: exp.public_id }))} />}
              </td>
            </tr>
          );
        }}
      />
    </section>
  );
}
