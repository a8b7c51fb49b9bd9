/**
 * uWebSockets.js, checked to be the native build. The package silently falls back to a slow
 * JavaScript implementation on top of `ws` when its binary does not load; the hub refuses to run
 * on it unless told to (`HUB_ALLOW_UWS_FALLBACK=1`), and then says so loudly.
 *
 * House rules for everything in src/server/ (from uWS' examples and user manual):
 * - copy what you need from `req` before any await: it is valid only in the handler's first tick;
 * - every HTTP handler that answers later registers `onAborted`, and checks it before writing;
 * - writes after an await go inside `res.cork()` / `ws.cork()`;
 * - a socket is valid only between `open` and `close`: state lives on its user data;
 * - honour `send()`'s result and `drain`: never queue without a bound.
 */
import uws from 'uWebSockets.js';

export { uws };
export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, WebSocket } from 'uWebSockets.js';

/** Is the loaded uWebSockets.js the native addon (not the `ws` fallback)? */
export function isNativeUws(): boolean {
  // The fallback exports only App, _cfg and the two socket helpers; the addon has SSLApp and getParts.
  const mod = uws as unknown as Record<string, unknown>;
  return typeof mod.SSLApp === 'function' && typeof mod.getParts === 'function';
}
