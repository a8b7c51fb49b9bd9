/**
 * The CRUD ops of PROTOCOL.md §5, made for every resource from one generic definition: the
 * role table (access.ts), the write schemas (protocol/schemas.ts), the generic repository, and
 * a small spec of what is particular to the resource (ownership, hashing, side effects).
 */
import type { SQL } from 'drizzle-orm';
import type { Principal } from '../auth/principal.js';
import type { ResourceName } from '../db/entities.js';
import type { HubTable, NewRow, Repository, Row } from '../db/repository.js';
import { forbidden, notFound } from '../errors.js';
import type { OpDef } from '../protocol/ops.js';
import { toRecord, type WireRecord } from '../protocol/records.js';
import { ByPublicId, ListQuery, createSchema, updateSchema, withoutReadOnly, type WritableResource } from '../protocol/schemas.js';
import { CRUD_ACCESS, type CrudKind } from './access.js';

type Data = Record<string, unknown>;

/** What is particular to one resource; everything is optional. */
export interface ResourceSpec<T extends HubTable> {
  readonly name: ResourceName;
  readonly repo: Repository<T>;
  /** Rows this caller may list (undefined: all). */
  listScope?(p: Principal): SQL | undefined;
  /** May this caller get this row? Otherwise `403`. */
  canSee?(p: Principal, row: Row<T>): boolean | Promise<boolean>;
  /** May this caller update or delete this row? Otherwise `403`. */
  canChange?(p: Principal, row: Row<T>): boolean | Promise<boolean>;
  /** Checks and turns validated create data into column values. */
  toInsert?(data: Data, p: Principal): NewRow<T> | Promise<NewRow<T>>;
  /** Checks and turns validated update data into column values. */
  toUpdate?(data: Data, p: Principal, row: Row<T>): Partial<NewRow<T>> | Promise<Partial<NewRow<T>>>;
  /** The reply to `create` (default: the record). */
  created?(row: Row<T>, extra: unknown): WireRecord;
  /** Inserts instead of the repository (with the effects of its own transaction, say). */
  insert?(values: NewRow<T>, p: Principal): Promise<Row<T>>;
  /** Writes an update instead of the repository (in a transaction of its own, say). */
  update?(publicId: string, values: Partial<NewRow<T>>, p: Principal, row: Row<T>): Promise<Row<T>>;
  /** Runs after an update is committed (close sockets whose rights changed, say). */
  updated?(before: Row<T>, after: Row<T>, values: Partial<NewRow<T>>, p: Principal): void;
  /** Deletes instead of the repository; returns whether a row was deleted. */
  remove?(row: Row<T>, p: Principal): Promise<boolean>;
  /** Checks before a delete (the last admin stays, say). */
  beforeDelete?(row: Row<T>, p: Principal): void | Promise<void>;
  /** Runs after a delete (close sockets of a deleted token, say). */
  deleted?(row: Row<T>, p: Principal): void;
}

/** The wire record of a row of this spec's resource. */
export function recordOf<T extends HubTable>(spec: ResourceSpec<T>, row: Row<T>): WireRecord {
  return toRecord(spec.name, row as Record<string, unknown>);
}

/**
 * list/get/create/update/delete ops for one resource, as far as CRUD_ACCESS has them.
 * `changed` runs (and is awaited) after every write, before the reply.
 */
export function crudOps<T extends HubTable>(spec: ResourceSpec<T>, changed: (resource: ResourceName) => Promise<void>): OpDef[] {
  const access = CRUD_ACCESS[spec.name];
  const ops: OpDef[] = [];
  const name = (kind: CrudKind) => `${spec.name}.${kind}`;
  const hasOwnerColumn = 'user_public_id' in spec.repo.table;

  if (access.list !== undefined) {
    ops.push({
      name: name('list'),
      allow: access.list,
      schema: ListQuery,
      handle: async (data, { principal }) => {
        const page = await spec.repo.paginate(data, spec.listScope?.(principal));
        return { ...page, items: page.items.map((row) => recordOf(spec, row)) };
      },
    });
  }

  if (access.get !== undefined) {
    ops.push({
      name: name('get'),
      allow: access.get,
      schema: ByPublicId,
      handle: async (data, { principal }) => {
        const row = await spec.repo.getOr404(data.public_id);
        if (spec.canSee !== undefined && !(await spec.canSee(principal, row))) throw forbidden(`Not allowed to read this ${spec.repo.entity}`);
        return recordOf(spec, row);
      },
    });
  }

  if (access.create !== undefined) {
    const resource = spec.name as WritableResource;
    ops.push({
      name: name('create'),
      allow: access.create,
      // `public_id` is the hub's to choose; a client's is ignored like the other read-only fields.
      prepare: (data) => dropKey(withoutReadOnly(data), 'public_id'),
      schema: createSchema(resource),
      handle: async (data, { principal }) => {
        const values = spec.toInsert === undefined ? (data as NewRow<T>) : await spec.toInsert(data, principal);
        const withOwner = hasOwnerColumn ? { ...values, user_public_id: principal.user.public_id } : values;
        const row = spec.insert === undefined ? await spec.repo.create(withOwner as NewRow<T>) : await spec.insert(withOwner as NewRow<T>, principal);
        await changed(spec.name);
        return spec.created === undefined ? recordOf(spec, row) : spec.created(row, values);
      },
    });
  }

  if (access.update !== undefined) {
    const resource = spec.name as WritableResource;
    ops.push({
      name: name('update'),
      allow: access.update,
      prepare: (data) => withoutReadOnly(data),
      schema: updateSchema(resource),
      handle: async (data, { principal }) => {
        const row = await spec.repo.getOr404(data.public_id);
        if (spec.canChange !== undefined && !(await spec.canChange(principal, row))) {
          throw forbidden(`Not allowed to change this ${spec.repo.entity}`);
        }
        const { public_id: _id, ...fields } = data;
        const values = spec.toUpdate === undefined ? (fields as Partial<NewRow<T>>) : await spec.toUpdate(fields, principal, row);
        const updated =
          spec.update === undefined ? await spec.repo.update(row.public_id, values) : await spec.update(row.public_id as string, values, principal, row);
        spec.updated?.(row, updated, values, principal);
        await changed(spec.name);
        return recordOf(spec, updated);
      },
    });
  }

  if (access.delete !== undefined) {
    ops.push({
      name: name('delete'),
      allow: access.delete,
      schema: ByPublicId,
      handle: async (data, { principal }) => {
        const row = await spec.repo.getOr404(data.public_id);
        if (spec.canChange !== undefined && !(await spec.canChange(principal, row))) {
          throw forbidden(`Not allowed to delete this ${spec.repo.entity}`);
        }
        await spec.beforeDelete?.(row, principal);
        let result: { status: 'success'; message: string };
        if (spec.remove === undefined) result = await spec.repo.deleteByPublicId(row.public_id);
        else if (await spec.remove(row, principal)) result = { status: 'success', message: `${spec.repo.entity} deleted` };
        else throw notFound(spec.repo.entity, row.public_id as string);
        spec.deleted?.(row, principal);
        await changed(spec.name);
        return result;
      },
    });
  }
  return ops;
}

function dropKey(data: Data, key: string): Data {
  const { [key]: _dropped, ...rest } = data;
  return rest;
}
