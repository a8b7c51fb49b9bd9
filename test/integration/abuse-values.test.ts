/**
 * Hostile values from an authenticated user: deep and huge JSON fields, BigInt, NUL, absurd
 * numbers. Each gets a contract error; none ends the hub or leaves a value that later crashes it.
 * @see PROTOCOL.md §4, §10; issue 8 defects 1 and 9
 */
import { pack, unpack } from 'msgpackr';
import { eq } from 'drizzle-orm';
import type WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as t from '../../src/db/schema.js';
import { MAX_JSON_DEPTH } from '../../src/protocol/json-value.js';
import { nextMessage, rawSocket, startTestHub, type TestHub } from '../support/hub.js';

let h: TestHub;
let ws: WebSocket;
let dashboard: string;

beforeAll(async () => {
  h = await startTestHub();
  const admin = await h.connect(h.adminToken);
  dashboard = (await admin.request<{ public_id: string }>('dashboards.create', { name: 'abuse' })).public_id;
  await admin.close();
});
afterAll(async () => {
  await h?.stop();
});
afterEach(() => {
  ws?.terminate();
});

/** A JSON object nested `depth` levels deep. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

async function askText(frame: string): Promise<Record<string, any>> {
  const reply = nextMessage(ws);
  ws.send(frame, { binary: false });
  return JSON.parse((await reply).data.toString()) as Record<string, any>;
}

async function askBinary(frame: Uint8Array): Promise<Record<string, any>> {
  const reply = nextMessage(ws);
  ws.send(frame, { binary: true });
  const { binary, data } = await reply;
  expect(binary).toBe(true);
  return unpack(data) as Record<string, any>;
}

describe('JSON-valued fields are bounded (defect 1)', () => {
  it('a widget config nested thousands of levels deep is refused with 422, over JSON and MessagePack', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const data = { dashboard_public_id: dashboard, widget_type: 'gauge', config: nested(3000) };
    const text = await askText(JSON.stringify({ id: 1, op: 'dashboard_widgets.create', data }));
    expect(text).toMatchObject({ id: 1, ok: false, error: { status: 422, code: 'invalid', details: [{ path: '/config' }] } });
    expect(text.error.details[0].message).toMatch(/nested at most/);
    // msgpackr cannot pack 3000 levels; 1000 is deep enough.
    const binary = await askBinary(pack({ id: 2, op: 'dashboard_widgets.create', data: { ...data, config: nested(1000) } }));
    expect(binary).toMatchObject({ id: 2, ok: false, error: { status: 422, code: 'invalid' } });
  });

  it('the depth bound is exact, and a config within it is stored and read back', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const over = await askText(JSON.stringify({ id: 1, op: 'dashboard_widgets.create', data: { dashboard_public_id: dashboard, widget_type: 'gauge', config: nested(MAX_JSON_DEPTH) } }));
    expect(over).toMatchObject({ ok: false, error: { status: 422 } });
    const ok = await askText(JSON.stringify({ id: 2, op: 'dashboard_widgets.create', data: { dashboard_public_id: dashboard, widget_type: 'gauge', config: nested(MAX_JSON_DEPTH - 1) } }));
    expect(ok).toMatchObject({ ok: true });
    expect(ok.data.config).toEqual(nested(MAX_JSON_DEPTH - 1));
  });

  it('a huge config, and one on plugin_instances.update, are refused with 422', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const big = { blob: 'x'.repeat(200_000) };
    expect(await askText(JSON.stringify({ id: 1, op: 'dashboard_widgets.create', data: { dashboard_public_id: dashboard, widget_type: 'gauge', config: big } }))).toMatchObject({
      ok: false,
      error: { status: 422, details: [{ path: '/config' }] },
    });
    const instance = await askText(JSON.stringify({ id: 2, op: 'plugin_instances.create', data: { plugin_id: 'p', instance_name: 'deep-one' } }));
    expect(await askText(JSON.stringify({ id: 3, op: 'plugin_instances.update', data: { public_id: instance.data.public_id, config: nested(500) } }))).toMatchObject({
      ok: false,
      error: { status: 422 },
    });
  });

  it('a MessagePack BigInt or timestamp inside a JSON field is 422, not 500 (defect 9)', async () => {
    ws = await rawSocket(h.wsUrl, h.adminToken);
    const { Packr } = await import('msgpackr');
    const packr = new Packr({ useRecords: false, useBigIntExtension: true });
    for (const value of [2n ** 70n, new Date(0)]) {
      const frame = packr.pack({ id: 1, op: 'dashboard_widgets.create', data: { dashboard_public_id: dashboard, widget_type: 'gauge', config: { value } } });
      expect(await askBinary(frame)).toMatchObject({ id: 1, ok: false, error: { status: 422, code: 'invalid' } });
    }
  });

  it('a deep value already stored (written before the bound) answers 500 over MessagePack and the hub lives on', async () => {
    // Written behind the hub's back, as a database from before this bound may hold it.
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const { rows } = await h.database.pool.query<{ public_id: string }>(
      `INSERT INTO dashboard_widgets (dashboard_public_id, widget_type, config) VALUES ($1, 'gauge', $2::jsonb) RETURNING public_id`,
      [dashboard, deep],
    );
    const row = rows[0];
    ws = await rawSocket(h.wsUrl, h.adminToken);
    for (let i = 0; i < 3; i++) {
      const reply = await askBinary(pack({ id: i, op: 'dashboard_widgets.get', data: { public_id: row?.public_id } }));
      expect(reply).toMatchObject({ id: i, ok: false, error: { status: 500, code: 'internal' } });
    }
    const listed = await askBinary(pack({ id: 'l', op: 'dashboard_widgets.list', data: {} }));
    expect(listed).toMatchObject({ id: 'l', ok: false, error: { status: 500 } });
    // Still serving, also this socket.
    expect(await askText(JSON.stringify({ id: 'alive', op: 'auth.me' }))).toMatchObject({ id: 'alive', ok: true });
    await h.database.db.delete(t.dashboardWidgets).where(eq(t.dashboardWidgets.public_id, row?.public_id as string));
  });
});
