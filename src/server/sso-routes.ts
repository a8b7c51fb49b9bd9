/**
 * `GET /api/auth/sso/login`, `GET /api/auth/sso/callback`, `POST /api/auth/sso/exchange`; not
 * registered when SSO is off, so they answer 404 like any unknown route. @see PROTOCOL.md §17
 */
import type { SsoService } from '../auth/sso/sso-service.js';
import { badRequest, invalid, toHubError } from '../errors.js';
import { readBody, sendError, sendJson, trackAborted, type AbortState } from './http.js';
import type { HttpResponse, TemplatedApp } from './uws.js';

const MAX_EXCHANGE_BODY = 4 * 1024;
/** Neither the provider's code in the callback's URL nor ours leaves in a Referer, nor is cached. */
const NO_LEAK = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' } as const;

export function registerSsoRoutes(app: TemplatedApp, sso: SsoService): void {
  app.get('/api/auth/sso/login', (res) => {
    const state = trackAborted(res);
    void sso.begin().then(
      ({ location, setCookie }) => redirect(res, state, location, setCookie),
      (err: unknown) => sendError(res, state, err),
    );
  });

  app.get('/api/auth/sso/callback', (res, req) => {
    const state = trackAborted(res);
    // uWS: the request is valid only until the first await.
    const query = req.getQuery() ?? '';
    const cookie = req.getHeader('cookie');
    void sso.callback(query, cookie).then(
      ({ location }) => redirect(res, state, location, sso.clearCookie()),
      (err: unknown) => {
        const error = toHubError(err);
        sendJson(res, state, error.status, { error: error.toWire() }, { ...NO_LEAK, 'set-cookie': sso.clearCookie() });
      },
    );
  });

  app.post('/api/auth/sso/exchange', (res) => {
    const state = trackAborted(res);
    void (async () => {
      try {
        const code = parseExchange(await readBody(res, state, MAX_EXCHANGE_BODY));
        sendJson(res, state, 200, await sso.exchange(code), { 'cache-control': 'no-store' });
      } catch (err) {
        sendError(res, state, err);
      }
    })();
  });
}

/** A `302` (corked: it follows an await). */
function redirect(res: HttpResponse, state: AbortState, location: string, setCookie: string): void {
  if (state.aborted) return;
  res.cork(() => {
    res.writeStatus('302 Found').writeHeader('location', location).writeHeader('set-cookie', setCookie);
    for (const [name, value] of Object.entries(NO_LEAK)) res.writeHeader(name, value);
    res.end();
  });
}

function parseExchange(body: Buffer): string {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('The body is not valid JSON');
  }
  const code = typeof value === 'object' && value !== null ? (value as Record<string, unknown>).code : undefined;
  if (typeof code !== 'string' || code === '') throw invalid([{ path: '/code', message: 'is required' }]);
  return code;
}
