/**
 * Stored points for the live layer. The SQL lives in db/history.ts (all `datapoints` SQL is in
 * db/, next to the partitions it must prune); this module is the live layer's view of it.
 * @see PROTOCOL.md §7
 */
export { loadLatest, queryBuckets, queryRaw, replaySince, type QueryRange } from '../db/history.js';
