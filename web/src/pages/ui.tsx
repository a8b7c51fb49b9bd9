/** Pieces every page shares: a list's table with its pager, an action's error line, a delete that asks first. */
import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../format.js';
import type { ListState } from './list.js';

/** An error line (a refused call, a 403): announced, never a crash. */
export function ErrorLine({ text }: { text: string }) {
  if (text === '') return null;
  return <p class="error" role="alert">{text}</p>;
}

export interface Action {
  busy: boolean;
  error: string;
  /** Runs `fn`; a rejection becomes the error line. Resolves true when it succeeded. */
  run(fn: () => Promise<unknown>): Promise<boolean>;
  clear(): void;
}

/** The state of the buttons of one page: busy while a call runs, the last failure's text. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  return {
    busy,
    error,
    clear: () => setError(''),
    run: async (fn) => {
      setBusy(true);
      setError('');
      try {
        await fn();
        return true;
      } catch (err) {
        setError(errorText(err));
        return false;
      } finally {
        setBusy(false);
      }
    },
  };
}

/** A page's heading and its toolbar (counts, filters, buttons). */
export function PageHead({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="toolbar">
      <h2>{title}</h2>
      {children}
    </div>
  );
}

/** "Page 2 of 5 · 112" with previous and next buttons; nothing when one page holds all. */
export function Pager<R>({ list, label }: { list: ListState<R>; label: string }) {
  if (list.pages <= 1) return <p class="muted pager">{label}: {list.total}</p>;
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" class="quiet" disabled={list.page <= 1} onClick={() => list.setPage(list.page - 1)}>Previous</button>
      <span>
        Page {list.page} of {list.pages} · {label}: {list.total}
      </span>
      <button type="button" class="quiet" disabled={list.page >= list.pages} onClick={() => list.setPage(list.page + 1)}>Next</button>
    </nav>
  );
}

/** A list's table: head, one row per item, the empty and loading states, the pager. */
export function ListTable<R>(props: { list: ListState<R>; label: string; head: string[]; row: (item: R) => ComponentChildren; id?: string }) {
  const { list, label, head, row } = props;
  const table = useRef<HTMLTableElement>(null);
  // Each cell carries its column's name: at phone width the rows stack as cards, labelled by CSS.
  useLayoutEffect(() => {
    for (const tr of table.current?.tBodies[0]?.rows ?? []) {
      for (const [i, td] of [...tr.cells].entries()) if (head[i] && td.colSpan === 1) td.dataset['label'] = head[i];
    }
  });
  return (
    <>
      <ErrorLine text={list.error} />
      {!list.loaded && list.error === '' && <p class="muted">Loading…</p>}
      {list.loaded && (
        <div class="table-wrap">
          <table id={props.id} class="list" ref={table}>
            <thead>
              <tr>
                {head.map((h) => (
                  <th key={h} scope="col">{h}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {list.items.length === 0 ? (
                <tr>
                  <td colSpan={head.length} class="muted">No {label} yet.</td>
                </tr>
              ) : (
                list.items.map(row)
              )}
            </tbody>
          </table>
        </div>
      )}
      {list.loaded && <Pager list={list} label={label} />}
    </>
  );
}

/** A delete (or revoke) that asks once more inline: no `confirm()` dialog, reachable by keyboard. */
export function ConfirmButton({ label, onConfirm, disabled }: { label: string; onConfirm: () => void | Promise<unknown>; disabled?: boolean }) {
  const [asking, setAsking] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  const ask = useRef<HTMLButtonElement>(null);
  const wasAsking = useRef(false);
  // The button under the keyboard's focus is replaced: move the focus to its replacement.
  useEffect(() => {
    if (asking) yes.current?.focus();
    else if (wasAsking.current) ask.current?.focus();
    wasAsking.current = asking;
  }, [asking]);
  if (!asking) {
    return (
      <button type="button" class="danger" ref={ask} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm">
      <button
        type="button"
        class="danger"
        ref={yes}
        onClick={() => {
          setAsking(false);
          void onConfirm();
        }}
      >
        Yes, {label.toLowerCase()}
      </button>
      <button type="button" class="quiet" onClick={() => setAsking(false)}>Cancel</button>
    </span>
  );
}

/** A coloured word for a status (`connected`, `dead_letter`, `running`, …). */
export function Badge({ value }: { value: string }) {
  return <span class={`badge badge-${value.replace(/[^a-z_]/gi, '')}`}>{value.replace(/_/g, ' ')}</span>;
}

/**
 * A `<select>` whose first value is `initial` (set through `selected`, so that a re-render of the
 * form never undoes the user's choice).
 */
export function Choice(props: { name: string; initial?: string | null | undefined; options: readonly (readonly [string, string])[]; required?: boolean; id?: string }) {
  return (
    <select name={props.name} required={props.required} id={props.id}>
      {props.options.map(([value, label]) => (
        <option key={value} value={value} selected={value === props.initial}>{label}</option>
      ))}
    </select>
  );
}

/** Re-renders every `ms`, so that "12 s ago" ages without a push. */
export function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}
