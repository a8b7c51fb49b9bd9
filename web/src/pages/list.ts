/**
 * One page of a resource's list (`<resource>.list`, PROTOCOL.md §5): the page number, the reply,
 * a reload after each action, and the error of the last attempt (shown, never thrown).
 */
import { useEffect, useState } from 'preact/hooks';
import type { OpName, OpRequests, Page, ReplyTo } from '@telemetry-hub/client';
import { errorText } from '../format.js';
import { call, hub } from '../session.js';

export type ListOp = Extract<OpName, `${string}.list`>;
export type ItemOf<O extends ListOp> = ReplyTo<O> extends Page<infer R> ? R : never;

export interface ListOptions {
  filter?: Record<string, unknown>;
  order?: 'asc' | 'desc';
  pageSize?: number;
  /** Skip the request (e.g. no instance chosen yet). */
  skip?: boolean;
}

export interface ListState<R> {
  items: R[];
  total: number;
  page: number;
  pages: number;
  loaded: boolean;
  error: string;
  setPage(page: number): void;
  /** Fetches the current page again (after a write, or a push saying something changed). */
  reload(): void;
}

export function useList<O extends ListOp>(op: O, options: ListOptions = {}): ListState<ItemOf<O>> {
  const { filter, order, pageSize = 25, skip = false } = options;
  const [page, setPage] = useState(1);
  const [version, setVersion] = useState(0);
  const [reply, setReply] = useState<Page<ItemOf<O>> | null>(null);
  const [error, setError] = useState('');
  const key = JSON.stringify([filter ?? null, order ?? null, pageSize]);
  // Another filter starts again at the first page.
  useEffect(() => setPage(1), [key]);
  // Back from a dropped connection: what changed meanwhile was pushed to nobody, so fetch again.
  useEffect(() => hub().on('open', (ev) => ev.reconnected && setVersion((v) => v + 1)), []);
  useEffect(() => {
    if (skip) return;
    let current = true;
    const data = { page, page_size: pageSize, ...(filter === undefined ? {} : { filter }), ...(order === undefined ? {} : { order }) };
    call(op, data as OpRequests[O]).then(
      (r) => {
        if (!current) return;
        const result = r as unknown as Page<ItemOf<O>>;
        // A delete emptied the last page: show the one before it.
        if (result.items.length === 0 && page > 1 && page > result.pages) setPage(Math.max(1, result.pages));
        setReply(result);
        setError('');
      },
      (err: unknown) => {
        if (current) setError(errorText(err));
      },
    );
    return () => {
      current = false;
    };
  }, [op, key, page, version, skip]);
  return {
    items: reply?.items ?? [],
    total: reply?.total ?? 0,
    page,
    pages: reply?.pages ?? 0,
    loaded: reply !== null,
    error,
    setPage,
    reload: () => setVersion((v) => v + 1),
  };
}

/** Every item of a small list (≤ 500), e.g. the events a form offers to choose from. */
export function useAll<O extends ListOp>(op: O, skip = false): ItemOf<O>[] {
  const list = useList(op, { pageSize: 500, skip });
  return list.items;
}

/**
 * Runs a debounced `fn` at most every `ms` while pushes arrive (a burst of log entries or
 * firmware reports reloads a list once).
 */
export function debounce(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      fn();
    }, ms);
  };
}
