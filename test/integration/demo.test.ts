/** HUB_DEMO=1: a demo plugin instance streams simulated readings through the real ingest path. */
import { describe, expect, it } from 'vitest';
import { startTestHub } from '../support/hub.js';

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
