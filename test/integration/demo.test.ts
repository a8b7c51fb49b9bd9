/**
 * HUB_DEMO=1: a demo plugin instance streams simulated readings through the real ingest path,
 * and a global demo dashboard is seeded once for newcomers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startHub } from '../../src/main.js';
import { createTestDatabase } from '../support/db.js';
import { ADMIN_PASSWORD, startTestHub } from '../support/hub.js';

type Rec = Record<string, any>;

describe('the demo simulator', () => {
  it('creates its instance, events and mappings once, and streams readings that are stored and pushed', async () => {
    const h = await startTestHub({ HUB_DEMO: '1' });
    try {
      const c = await h.connect(h.adminToken);
      // Streaming, the demo counts as a connected device, and answers `ping`.
      const instances = await c.request<Rec>('plugin_instances.list', { filter: { instance_name: 'demo' } });
      expect(instances.items).toEqual([expect.objectContaining({ demo_mode: true, plugin_id: 'simulator' })]);
      const demo = instances.items[0].public_id as string;
      await expect.poll(async () => (await c.request<Rec>('plugin_instances.get', { public_id: demo })).status).toBe('connected');
      const pong = await c.request<Rec>('commands.send', { plugin_instance_public_id: demo, name: 'ping' });
      expect(pong).toMatchObject({ result: { pong: true } });
      await expect(c.request('commands.send', { plugin_instance_public_id: demo, name: 'reboot' })).rejects.toMatchObject({ status: 502, code: 'device_error' });
      const events = await c.request<Rec>('events.list', { page_size: 100 });
      const temperature = events.items.find((e: Rec) => e.name === 'demo_temperature');
      expect(temperature).toBeDefined();
      const pushes: Rec[] = [];
      c.onPush((p) => pushes.push(p.data as Rec));
      await c.request('subscribe', { events: [temperature.public_id] });
      await expect.poll(() => pushes.length, { timeout: 5000 }).toBeGreaterThan(0);
      expect(pushes[0]).toMatchObject({ event: temperature.public_id });
      await expect
        .poll(async () => (await c.request<Rec>('datapoints.latest', { events: [temperature.public_id] })).items.length, { timeout: 5000 })
        .toBe(1);
      const stored = await h.database.pool.query('SELECT count(*) FROM datapoints WHERE event_public_id = $1', [temperature.public_id]);
      expect(Number(stored.rows[0].count)).toBeGreaterThan(0);
      await c.close();
    } finally {
      await h.stop();
    }
  });
});

describe('the demo dashboard', () => {
  it('is seeded once, global and owned by the admin, with charts, stat cards, gauges and actuators over the demo events', async () => {
    const h = await startTestHub({ HUB_DEMO: '1' });
    try {
      const c = await h.connect(h.adminToken);
      const me = (await c.request<Rec>('auth.me')).user;
      const dashboards = await c.request<Rec>('dashboards.list', { filter: { name: 'Demo' } });
      expect(dashboards.items).toEqual([expect.objectContaining({ name: 'Demo', is_global: true, user_public_id: me.public_id })]);
      const widgets = (await c.request<Rec>('dashboard_widgets.list', { page_size: 100, filter: { dashboard_public_id: dashboards.items[0].public_id } })).items;
      const types = new Set(widgets.map((w: Rec) => w.widget_type));
      expect([...types].sort()).toEqual(['actuator_toggle', 'gauge', 'line_chart', 'stat_card']);
      const events = new Map<string, Rec>((await c.request<Rec>('events.list', { page_size: 100 })).items.map((e: Rec) => [e.public_id as string, e]));
      // Every widget names a demo event; a chart draws two; the actuators are an actuator and a range.
      for (const w of widgets) expect(events.get(w.event_public_id)?.name).toMatch(/^demo_/);
      expect(widgets.some((w: Rec) => w.widget_type === 'line_chart' && w.config.events?.length === 1)).toBe(true);
      const actuated = widgets.filter((w: Rec) => w.widget_type === 'actuator_toggle').map((w: Rec) => events.get(w.event_public_id)?.event_type);
      expect(actuated.sort()).toEqual(['actuator', 'range']);
      // A viewer sees it (global) and cannot change it.
      const viewer = await h.connect((await h.userWithRole('viewer')).token);
      expect((await viewer.request<Rec>('dashboards.list', { filter: { name: 'Demo' } })).items).toHaveLength(1);
      await expect(viewer.request('dashboards.update', { public_id: dashboards.items[0].public_id, name: 'Mine' })).rejects.toMatchObject({ status: 403 });
      await viewer.close();
      await c.close();
    } finally {
      await h.stop();
    }
  });

  it('is not seeded again when the hub restarts: what its users changed stays', async () => {
    const database = await createTestDatabase();
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hub-demo-'));
    const config = loadConfig({
      DATABASE_URL: database.url,
      HUB_PORT: '0',
      HUB_DATA_DIR: dataDir,
      HUB_ADMIN_PASSWORD: ADMIN_PASSWORD,
      HUB_JWT_SECRET: 'a-test-secret-that-is-long-enough-0123456789',
      HUB_DEMO: '1',
    });
    const count = async (): Promise<{ dashboards: number; widgets: number }> => {
      const d = await database.pool.query("SELECT count(*) FROM dashboards WHERE name = 'Demo'");
      const w = await database.pool.query("SELECT count(*) FROM dashboard_widgets w JOIN dashboards d ON d.public_id = w.dashboard_public_id WHERE d.name = 'Demo'");
      return { dashboards: Number(d.rows[0].count), widgets: Number(w.rows[0].count) };
    };
    try {
      const first = await startHub(config, createLogger('silent'));
      const seeded = await count();
      expect(seeded.dashboards).toBe(1);
      // A user removes a widget; the next start must not put it back.
      await database.pool.query("DELETE FROM dashboard_widgets WHERE public_id = (SELECT w.public_id FROM dashboard_widgets w JOIN dashboards d ON d.public_id = w.dashboard_public_id WHERE d.name = 'Demo' LIMIT 1)");
      await first.stop();
      const second = await startHub(config, createLogger('silent'));
      expect(await count()).toEqual({ dashboards: 1, widgets: seeded.widgets - 1 });
      await second.stop();
    } finally {
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
