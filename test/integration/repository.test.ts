import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repository } from '../../src/db/repository.js';
import { dashboardWidgets, dashboards, events, users } from '../../src/db/schema.js';
import { HubError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let database: TestDatabase;
let repo: Repository<typeof events>;

beforeAll(async () => {
  database = await createTestDatabase();
  repo = new Repository(database.db, events, 'Event');
  // 23 events: 12 of unit C, 11 of unit K; one without max_value... all with NULL max_value but #7.
  for (let i = 1; i <= 23; i++) {
    await repo.create({ name: `ev-${String(i).padStart(2, '0')}`, unit: i % 2 === 0 ? 'K' : 'C', max_value: i === 7 ? 70 : null });
  }
});
afterAll(async () => {
  await database?.drop();
});

async function hubError(promise: Promise<unknown>): Promise<HubError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(HubError);
    return err as HubError;
  }
  throw new Error('expected a HubError');
}

describe('paginate', () => {
  it('computes total, pages and the slice in creation order', async () => {
    const first = await repo.paginate({ page: 1, page_size: 10 });
    expect(first).toMatchObject({ total: 23, page: 1, page_size: 10, pages: 3 });
    expect(first.items.map((e) => e.name)).toEqual(Array.from({ length: 10 }, (_, i) => `ev-${String(i + 1).padStart(2, '0')}`));
    const last = await repo.paginate({ page: 3, page_size: 10 });
    expect(last.items.map((e) => e.name)).toEqual(['ev-21', 'ev-22', 'ev-23']);
  });

  it('defaults to page 1 of 25', async () => {
    const page = await repo.paginate({});
    expect(page).toMatchObject({ page: 1, page_size: 25, pages: 1, total: 23 });
    expect(page.items).toHaveLength(23);
  });

  it('answers a page past the end with no items, not an error', async () => {
    const page = await repo.paginate({ page: 99, page_size: 10 });
    expect(page).toMatchObject({ items: [], total: 23, page: 99, pages: 3 });
    const huge = await repo.paginate({ page: Number.MAX_SAFE_INTEGER, page_size: 500 });
    expect(huge.items).toEqual([]);
  });

  it('filters by column equality, and null by IS NULL', async () => {
    const kelvin = await repo.paginate({ filter: { unit: 'K' }, page_size: 100 });
    expect(kelvin.total).toBe(11);
    expect(kelvin.items.every((e) => e.unit === 'K')).toBe(true);
    const withMax = await repo.paginate({ filter: { max_value: 70 } });
    expect(withMax.items.map((e) => e.name)).toEqual(['ev-07']);
    const noMax = await repo.paginate({ filter: { max_value: null, unit: 'C' } });
    expect(noMax.total).toBe(11);
  });

  it('gives total 0 and pages 0 when nothing matches', async () => {
    expect(await repo.paginate({ filter: { unit: 'nothing' } })).toMatchObject({ items: [], total: 0, pages: 0 });
  });

  it.each([
    [{ page: 0 }, '/page'],
    [{ page: -1 }, '/page'],
    [{ page: 1.5 }, '/page'],
    [{ page: '2' }, '/page'],
    [{ page_size: 0 }, '/page_size'],
    [{ page_size: 501 }, '/page_size'],
    [{ page_size: '10' }, '/page_size'],
  ])('refuses paging %j with 422 at %s', async (query, path) => {
    const err = await hubError(repo.paginate(query));
    expect(err.code).toBe('invalid');
    expect(err.status).toBe(422);
    expect(err.details?.map((d) => d.path)).toEqual([path]);
  });

  it('refuses unknown and hidden filter columns, and non-scalar values, naming each', async () => {
    const err = await hubError(repo.paginate({ filter: { nope: 1, id: 1, name: { $ne: 'x' } } }));
    expect(err.code).toBe('invalid');
    expect(err.details?.map((d) => d.path).sort()).toEqual(['/filter/id', '/filter/name', '/filter/nope']);
    const secrets = new Repository(database.db, users, 'User', { hidden: ['password_hash'] });
    expect((await hubError(secrets.paginate({ filter: { password_hash: 'x' } }))).code).toBe('invalid');
  });

  it('answers a filter value of the wrong form with 422, not 500', async () => {
    const err = await hubError(repo.paginate({ filter: { public_id: 'not-a-uuid' } }));
    expect(err.code).toBe('invalid');
    const err2 = await hubError(repo.paginate({ filter: { created_on: 'yesterday-ish' } }));
    expect(err2.code).toBe('invalid');
  });

  it('applies a scope on top of the filter', async () => {
    const page = await repo.paginate({ filter: { unit: 'C' } }, eq(events.name, 'ev-01'));
    expect(page.items.map((e) => e.name)).toEqual(['ev-01']);
  });

  it('keeps SQL in values as plain data', async () => {
    const page = await repo.paginate({ filter: { name: "x'; DROP TABLE events; --" } });
    expect(page.total).toBe(0);
    expect((await repo.paginate({})).total).toBe(23);
  });
});

describe('getOr404 / update / delete', () => {
  it('gets by public_id', async () => {
    const created = await repo.create({ name: 'get-me', unit: 'V' });
    expect(await repo.getOr404(created.public_id)).toMatchObject({ name: 'get-me', unit: 'V' });
  });

  it('answers 404 with the entity and id for a missing or malformed id', async () => {
    const id = randomUUID();
    const err = await hubError(repo.getOr404(id));
    expect(err).toMatchObject({ code: 'not_found', status: 404, message: `Event '${id}' not found` });
    expect((await hubError(repo.getOr404('nope'))).message).toBe("Event 'nope' not found");
    expect((await hubError(repo.update(id, { unit: 'x' }))).code).toBe('not_found');
    expect((await hubError(repo.deleteByPublicId(id))).code).toBe('not_found');
  });

  it('updates only the given fields', async () => {
    const created = await repo.create({ name: 'partial', unit: 'A', min_value: 1 });
    const updated = await repo.update(created.public_id, { unit: 'mA', name: undefined });
    expect(updated).toMatchObject({ name: 'partial', unit: 'mA', min_value: 1 });
    expect(await repo.update(created.public_id, {})).toMatchObject({ unit: 'mA' });
  });

  it('deletes and reports it', async () => {
    const created = await repo.create({ name: 'bye', unit: '' });
    expect(await repo.deleteByPublicId(created.public_id)).toEqual({ status: 'success', message: 'Event deleted' });
    expect((await hubError(repo.getOr404(created.public_id))).code).toBe('not_found');
  });

  it('honours a scope: a row outside it is not found', async () => {
    const created = await repo.create({ name: 'scoped', unit: '' });
    expect((await hubError(repo.getOr404(created.public_id, eq(events.unit, 'other')))).code).toBe('not_found');
    expect((await hubError(repo.deleteByPublicId(created.public_id, eq(events.unit, 'other')))).code).toBe('not_found');
  });
});

describe('constraint violations', () => {
  it('turns a unique violation into 409 naming the field, without SQL', async () => {
    await repo.create({ name: 'twice', unit: '' });
    const err = await hubError(repo.create({ name: 'twice', unit: '' }));
    expect(err).toMatchObject({ code: 'conflict', status: 409 });
    expect(err.message).toBe('Event with this name already exists');
    const other = await repo.create({ name: 'other', unit: '' });
    expect((await hubError(repo.update(other.public_id, { name: 'twice' }))).code).toBe('conflict');
  });

  it('turns a reference to a missing record into 404 naming that record', async () => {
    const widgets = new Repository(database.db, dashboardWidgets, 'DashboardWidget');
    const missing = randomUUID();
    const err = await hubError(widgets.create({ dashboard_public_id: missing, widget_type: 'gauge' }));
    expect(err).toMatchObject({ code: 'not_found', message: `Dashboard '${missing}' not found` });
  });

  it('turns a check violation into 422', async () => {
    const boards = new Repository(database.db, dashboards, 'Dashboard');
    const board = await boards.create({ name: 'b' });
    const widgets = new Repository(database.db, dashboardWidgets, 'DashboardWidget');
    const err = await hubError(widgets.create({ dashboard_public_id: board.public_id, widget_type: 'gauge', w: 13 }));
    expect(err.code).toBe('invalid');
  });

  it('turns a NUL byte in text into 422', async () => {
    expect((await hubError(repo.create({ name: 'nul\u0000byte', unit: '' }))).code).toBe('invalid');
  });
});
