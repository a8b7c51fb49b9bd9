/** `POST /api/auth/login` and `POST /api/auth/logout`. @see PROTOCOL.md §1 */
import type { Authenticator } from '../auth/authenticator.js';
import type { SessionRegistry } from '../auth/sessions.js';
import { badRequest, invalid, type ErrorDetail } from '../errors.js';
import { bearerToken, readBody, remoteAddress, sendError, sendJson, trackAborted } from './http.js';
import type { TemplatedApp } from './uws.js';

const MAX_LOGIN_BODY = 16 * 1024;

export function registerAuthRoutes(app: TemplatedApp, authenticator: Authenticator, sessions: SessionRegistry): void {
  app.post('/api/auth/login', (res) => {
    const state = trackAborted(res);
    const address = remoteAddress(res);
    void (async () => {
      try {
        const body = await readBody(res, state, MAX_LOGIN_BODY);
        const { username, password } = parseLogin(body);
        sendJson(res, state, 200, await authenticator.login(username, password, address), { 'cache-control': 'no-store' });
      } catch (err) {
        sendError(res, state, err);
      }
    })();
  });

  app.post('/api/auth/logout', (res, req) => {
    const state = trackAborted(res);
    const token = bearerToken(req.getHeader('authorization'), req.getQuery() ?? '');
    void (async () => {
      try {
        const principal = await authenticator.authenticate(token);
        await authenticator.revoke(principal);
        sessions.closeByToken(principal.tokenId, 'logged out');
        sendJson(res, state, 200, { status: 'success' });
      } catch (err) {
        sendError(res, state, err);
      }
    })();
  });
}

function parseLogin(body: Buffer): { username: string; password: string } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('The body is not valid JSON');
  }
  const details: ErrorDetail[] = [];
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof record.username !== 'string' || record.username === '') details.push({ path: '/username', message: 'is required' });
  if (typeof record.password !== 'string' || record.password === '') details.push({ path: '/password', message: 'is required' });
  if (details.length > 0) throw invalid(details);
  return { username: record.username as string, password: record.password as string };
}
