/**
 * Firmware and plugin uploads (streamed to disk, hashed on the way), firmware downloads, and
 * the experiment CSV export (streamed from PostgreSQL).
 * @see PROTOCOL.md §1
 */
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { Upload } from '../domain/file-store.js';
import { FILE_RESOURCES, type FileResource, type FileService } from '../domain/files.js';
import { HubError, toHubError } from '../errors.js';
import { bearerToken, sendError, sendJson, trackAborted } from './http.js';
import { BodyBuffer, bodyToUpload, pipeToResponse } from './streams.js';
import type { HttpRequest, TemplatedApp } from './uws.js';

export interface FileRouteDeps {
  readonly authenticator: Authenticator;
  readonly files: FileService;
  readonly maxUploadBytes: number;
  readonly log: Logger;
}

/** What a handler needs from `req`, copied before the first await. */
function readRequest(req: HttpRequest): { id: string; token: string | undefined; contentLength: string } {
  return {
    id: req.getParameter(0) ?? '',
    token: bearerToken(req.getHeader('authorization'), req.getQuery() ?? ''),
    contentLength: req.getHeader('content-length'),
  };
}

export function registerFileRoutes(app: TemplatedApp, deps: FileRouteDeps): void {
  const { authenticator, files, maxUploadBytes, log } = deps;

  for (const resource of Object.keys(FILE_RESOURCES) as FileResource[]) {
    app.put(`/api/${resource}/:id/file`, (res, req) => {
      const state = trackAborted(res);
      const { id, token, contentLength } = readRequest(req);
      const body = new BodyBuffer(res);
      void (async () => {
        let upload: Upload | undefined;
        try {
          if (contentLength !== '' && Number(contentLength) > maxUploadBytes) {
            throw new HubError('too_large', `The upload is over HUB_MAX_UPLOAD_BYTES (${maxUploadBytes})`);
          }
          const principal = await authenticator.authenticate(token);
          const kind = await files.authorizeUpload(principal, resource, id);
          upload = await files.store.begin(kind, id.toLowerCase());
          if (contentLength !== '0') await bodyToUpload(res, state, body, upload, maxUploadBytes);
          const stored = await upload.commit();
          upload = undefined;
          log.info({ resource, id, size: stored.size }, 'file uploaded');
          sendJson(res, state, 200, await files.saveUpload(resource, id, stored));
        } catch (err) {
          body.discard();
          await upload?.discard();
          const hubError = toHubError(err);
          if (hubError.code === 'internal' && !state.aborted) log.error({ err, resource, id }, 'upload failed');
          // A body we stopped reading cannot be skipped: close the connection after the answer.
          sendError(res, state, hubError, !body.complete);
        }
      })();
    });
  }

  app.get('/api/firmware_updates/:id/file', (res, req) => {
    const state = trackAborted(res);
    const { id, token } = readRequest(req);
    void (async () => {
      try {
        const principal = await authenticator.authenticate(token);
        const file = await files.openDownload(principal, 'firmware_updates', id);
        // uWS writes Content-Length itself from tryEnd's total (a header of our own would be sent twice).
        await pipeToResponse(
          res,
          state,
          file.stream,
          {
            'content-type': 'application/octet-stream',
            'content-disposition': `attachment; filename="firmware-${file.name}.bin"`,
            'x-content-sha256': file.sha256,
            'x-content-length': String(file.size),
          },
          { size: file.size, stallMs: files.exportLimits.stallMs, maxMs: files.exportLimits.maxMs },
        );
      } catch (err) {
        sendError(res, state, err);
      }
    })();
  });

  app.get('/api/experiments/:id/export.csv', (res, req) => {
    const state = trackAborted(res);
    const { id, token } = readRequest(req);
    void (async () => {
      try {
        const principal = await authenticator.authenticate(token);
        const csv = await files.exportCsv(principal, id);
        // The size is unknown until the end: chunked. A client that stops reading is cut after
        // stallMs, which closes the stream and so gives back its connection and export slot.
        const outcome = await pipeToResponse(
          res,
          state,
          csv.stream,
          {
            'content-type': 'text/csv; charset=utf-8',
            'content-disposition': `attachment; filename="experiment-${id.toLowerCase()}.csv"`,
          },
          { stallMs: files.exportLimits.stallMs, maxMs: files.exportLimits.maxMs },
        );
        if (outcome === 'stalled') log.info({ id, user: principal.user.public_id }, 'export cut: the client stopped reading');
        if (outcome === 'expired') log.info({ id, user: principal.user.public_id, maxMs: files.exportLimits.maxMs }, 'export cut: still going at its time limit');
      } catch (err) {
        sendError(res, state, err);
      }
    })();
  });
}
