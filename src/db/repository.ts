/**
 * The generic repository: list/get/create/update/delete for every table, by `public_id`, with
 * database errors mapped through the error registry. Domain services add behaviour on top; the
 * socket's CRUD ops call it directly.
 * @see PROTOCOL.md §5, §10
 */
import { and, asc, count, desc, eq, getTableColumns, getTableName, sql, type InferInsertModel, type InferSelectModel, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { invalid, notFound, type ErrorDetail } from '../errors.js';
import type { Db } from './database.js';
import { mapDbError } from './db-errors.js';

/** A table the repository can serve: an internal `id` and an external `public_id`. */
export type HubTable = PgTable & { id: PgColumn; public_id: PgColumn };

export type Row<T extends HubTable> = InferSelectModel<T>;
export type NewRow<T extends HubTable> = InferInsertModel<T>;

/** Primitive values a list filter may compare a column with. */
export type FilterValue = string | number | boolean | null;

export interface PageQuery {
  page?: unknown;
  page_size?: unknown;
  filter?: unknown;
  /** Creation order: `asc` (default, oldest first) or `desc` (newest first: logs, deliveries). */
  order?: unknown;
}

export interface Page<R> {
  items: R[];
  total: number;
  page: number;
  page_size: number;
  pages: number;
}

export interface RepositoryOptions {
  /** Columns that are never filterable (secrets, internal paths); `id` never is. */
  hidden?: readonly string[];
}

/** The key of the window count beside each listed row (no column has this name). */
const TOTAL = '__hub_total';
const totalColumn = () => sql<number>`count(*) over ()`.mapWith(Number);

export const DEFAULT_PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 500;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Is `value` a UUID in its canonical text form? */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** Checks page and page_size (PROTOCOL.md §5: page ≥ 1, page_size 1..500). */
export function parsePaging(query: PageQuery): { page: number; pageSize: number } {
  const details: ErrorDetail[] = [];
  const page = query.page ?? 1;
  const pageSize = query.page_size ?? DEFAULT_PAGE_SIZE;
  if (typeof page !== 'number' || !Number.isSafeInteger(page) || page < 1) {
    details.push({ path: '/page', message: 'must be an integer of at least 1' });
  }
  if (typeof pageSize !== 'number' || !Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    details.push({ path: '/page_size', message: `must be an integer from 1 to ${MAX_PAGE_SIZE}` });
  }
  if (details.length > 0) throw invalid(details);
  return { page: page as number, pageSize: pageSize as number };
}

/** One repository per table; `scope` arguments restrict any call to the rows a caller may touch. */
export class Repository<T extends HubTable> {
  private readonly columns: Record<string, PgColumn>;
  private readonly filterable: ReadonlySet<string>;
  /** The most common read, a named prepared statement: built once, planned once per connection. */
  private byPublicIdQuery: { execute(values: { id: string }): Promise<unknown[]> } | undefined;

  constructor(
    private readonly db: Db,
    readonly table: T,
    /** The singular name messages use: `Event '<id>' not found`. */
    readonly entity: string,
    options: RepositoryOptions = {},
  ) {
    this.columns = getTableColumns(table) as Record<string, PgColumn>;
    const hidden = new Set(['id', ...(options.hidden ?? [])]);
    this.filterable = new Set(Object.keys(this.columns).filter((c) => !hidden.has(c)));
  }

  /** Unfiltered pages, oldest and newest first, prepared like byPublicId (the dashboards' common list). */
  private readonly listAllQueries: Partial<Record<'asc' | 'desc', { execute(values: { limit: number; offset: number }): Promise<unknown[]> }>> = {};

  private listAll(order: 'asc' | 'desc'): { execute(values: { limit: number; offset: number }): Promise<unknown[]> } {
    this.listAllQueries[order] ??= this.db
      .select({ ...this.columns, [TOTAL]: totalColumn() })
      .from(this.table as PgTable)
      .orderBy(order === 'asc' ? asc(this.table.id) : desc(this.table.id))
      .limit(sql.placeholder('limit'))
      .offset(sql.placeholder('offset'))
      .prepare(`hub_list_${order === 'asc' ? '' : 'desc_'}${getTableName(this.table)}`);
    return this.listAllQueries[order];
  }

  /** Built on first use (a repository may be made without a live database, for docs). */
  private get byPublicId(): { execute(values: { id: string }): Promise<unknown[]> } {
    this.byPublicIdQuery ??= this.db
      .select()
      .from(this.table as PgTable)
      .where(eq(this.table.public_id, sql.placeholder('id')))
      .limit(1)
      .prepare(`hub_get_${getTableName(this.table)}`);
    return this.byPublicIdQuery;
  }

  /** A page of rows in creation order (or its reverse), filtered by column equality (`null` matches NULL). */
  async paginate(query: PageQuery, scope?: SQL): Promise<Page<Row<T>>> {
    const { page, pageSize } = parsePaging(query);
    const order = parseOrder(query.order);
    const where = and(scope, ...this.filterConditions(query.filter));
    const offset = (page - 1) * pageSize;
    try {
      // One round trip: the page and, beside each row, the count of all matching rows.
      const rows = (
        where === undefined
          ? await this.listAll(order).execute({ limit: pageSize, offset })
          : await this.db
              .select({ ...this.columns, [TOTAL]: totalColumn() })
              .from(this.table as PgTable)
              .where(where)
              .orderBy(order === 'asc' ? asc(this.table.id) : desc(this.table.id))
              .limit(pageSize)
              .offset(offset)
      ) as (Row<T> & { [TOTAL]?: number })[];
      let total = rows[0]?.[TOTAL];
      if (total === undefined) {
        // No row on this page: zero matches, or a page past the end (count them).
        const [counted] = offset === 0 ? [{ n: 0 }] : await this.db.select({ n: count() }).from(this.table as PgTable).where(where);
        total = counted?.n ?? 0;
      }
      for (const row of rows) delete row[TOTAL];
      return { items: rows, total, page, page_size: pageSize, pages: Math.ceil(total / pageSize) };
    } catch (err) {
      throw mapDbError(err, this.entity);
    }
  }

  /** The row with `publicId`, or `404 <Entity> '<publicId>' not found`. */
  async getOr404(publicId: unknown, scope?: SQL): Promise<Row<T>> {
    const id = this.checkId(publicId);
    let rows: Row<T>[];
    try {
      rows =
        scope === undefined
          ? ((await this.byPublicId.execute({ id })) as Row<T>[])
          : ((await this.db
              .select()
              .from(this.table as PgTable)
              .where(and(eq(this.table.public_id, id), scope))
              .limit(1)) as Row<T>[]);
    } catch (err) {
      throw mapDbError(err, this.entity);
    }
    const row = rows[0];
    if (row === undefined) throw notFound(this.entity, id);
    return row;
  }

  /** Inserts one row; a unique violation is `409`, a missing referenced record `404`. */
  async create(values: NewRow<T>): Promise<Row<T>> {
    try {
      const rows = (await this.db
        .insert(this.table as PgTable)
        .values(values as never)
        .returning()) as Row<T>[];
      return rows[0] as Row<T>;
    } catch (err) {
      throw mapDbError(err, this.entity);
    }
  }

  /** Changes the given columns of one row (a partial update) and returns the row as stored. */
  async update(publicId: unknown, values: Partial<NewRow<T>>, scope?: SQL): Promise<Row<T>> {
    const id = this.checkId(publicId);
    const changes = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
    if (Object.keys(changes).length === 0) return this.getOr404(id, scope);
    let rows: Row<T>[];
    try {
      rows = (await this.db
        .update(this.table as PgTable)
        .set(changes as never)
        .where(and(eq(this.table.public_id, id), scope))
        .returning()) as Row<T>[];
    } catch (err) {
      throw mapDbError(err, this.entity);
    }
    const row = rows[0];
    if (row === undefined) throw notFound(this.entity, id);
    return row;
  }

  /** Deletes one row; the database applies the foreign keys' ON DELETE rules. */
  async deleteByPublicId(publicId: unknown, scope?: SQL): Promise<{ status: 'success'; message: string }> {
    const id = this.checkId(publicId);
    let deleted: unknown[];
    try {
      deleted = await this.db
        .delete(this.table as PgTable)
        .where(and(eq(this.table.public_id, id), scope))
        .returning({ id: this.table.id });
    } catch (err) {
      throw mapDbError(err, this.entity);
    }
    if (deleted.length === 0) throw notFound(this.entity, id);
    return { status: 'success', message: `${this.entity} deleted` };
  }

  /** A `public_id` that is not a UUID names no record: 404, not a database error. */
  private checkId(publicId: unknown): string {
    if (isUuid(publicId)) return publicId.toLowerCase();
    if (typeof publicId === 'string') throw notFound(this.entity, publicId.slice(0, 64));
    throw invalid([{ path: '/public_id', message: 'must be a UUID string' }]);
  }

  private filterConditions(filter: unknown): SQL[] {
    if (filter === undefined || filter === null) return [];
    if (typeof filter !== 'object' || Array.isArray(filter)) {
      throw invalid([{ path: '/filter', message: 'must be an object of column: value' }]);
    }
    const details: ErrorDetail[] = [];
    const conditions: SQL[] = [];
    for (const [key, value] of Object.entries(filter as Record<string, unknown>)) {
      const column = this.filterable.has(key) ? this.columns[key] : undefined;
      if (column === undefined) {
        details.push({ path: `/filter/${escapePointer(key)}`, message: 'is not a filterable field' });
      } else if (value === null) {
        conditions.push(sql`${column} IS NULL`);
      } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        // A plain parameter (not eq()): the server casts the text to the column's type, and a
        // value of the wrong form comes back as 22P02 → 422 instead of crashing a driver encoder.
        conditions.push(sql`${column} = ${value}`);
      } else {
        details.push({ path: `/filter/${escapePointer(key)}`, message: 'must be a string, number, boolean or null' });
      }
    }
    if (details.length > 0) throw invalid(details);
    return conditions;
  }
}

/** Escapes a key for use in a JSON Pointer (RFC 6901). */
export function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}


/** `order`: `asc` (the default) or `desc`. */
function parseOrder(order: unknown): 'asc' | 'desc' {
  if (order === undefined || order === null || order === 'asc') return 'asc';
  if (order === 'desc') return 'desc';
  throw invalid([{ path: '/order', message: 'must be "asc" or "desc"' }]);
}
