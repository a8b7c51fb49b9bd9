/** The HTTP side: /healthz, /metrics, unknown routes. @see PROTOCOL.md §1 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../support/hub.js';

let h: TestHub;
beforeAll(async () => {
  h = await startTestHub();
});
afterAll(async () => {
  await h?.stop();
});

describe('HTTP', () => {
  it('/healthz reports the database and the queue', async () => {
    const res = await fetch(`${h.baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toMatchObject({ status: 'ok', database: 'ok', version: '0.1.0', queue: { depth: 0, capacity: 200_000 } });
  });

  it('/metrics speaks the Prometheus text format and counts sockets and requests', async () => {
    const client = await h.connect(h.adminToken);
    await client.request('events.list', {});
    await client.request('nope.nope').catch(() => undefined);
    const text = await (await fetch(`${h.baseUrl}/metrics`)).text();
    expect(text).toMatch(/^hub_ws_connections\{role="admin"\} [1-9]/m);
    expect(text).toMatch(/^hub_ws_requests_total\{op="events.list",outcome="ok"\} [1-9]/m);
    expect(text).toMatch(/^hub_ws_requests_total\{op="unknown",outcome="unknown_op"\} [1-9]/m);
    expect(text).toContain('hub_ws_request_seconds_bucket');
    expect(text).toContain('hub_process_resident_memory_bytes');
    await client.close();
  });

  it('answers an unknown route with 404 and the error object', async () => {
    const res = await fetch(`${h.baseUrl}/api/nothing`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { status: 404, code: 'not_found' } });
  });

  it('serves the page under a strict CSP: no inline script or style, never framed, no sniffing', async () => {
    const res = await fetch(`${h.baseUrl}/`);
    const html = await res.text();
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // Every script and style of the page is a file of the hub's, served with the same headers.
    expect(html).not.toMatch(/<script>|<style>|\son[a-z]+=/i);
    for (const [path, type] of [['/app.js', 'text/javascript'], ['/app.css', 'text/css']] as const) {
      expect(html).toContain(path);
      const file = await fetch(`${h.baseUrl}${path}`);
      expect(file.status).toBe(200);
      expect(file.headers.get('content-type')).toContain(type);
      expect(file.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});
