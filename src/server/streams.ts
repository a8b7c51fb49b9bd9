/** Streaming between Node streams and uWS responses, with backpressure both ways. */
import type { Readable } from 'node:stream';
import { HubError } from '../errors.js';
import type { Upload } from '../domain/file-store.js';
import { statusLine, type AbortState } from './http.js';
import type { HttpResponse } from './uws.js';

/** Streams `source` as the response body; pauses it while uWS cannot take more. */
export function pipeToResponse(
  res: HttpResponse,
  state: AbortState,
  source: Readable,
  headers: Record<string, string>,
): Promise<void> {
  return new Promise((resolve) => {
    let started = false;
    const start = (): void => {
      if (started) return;
      started = true;
      res.writeStatus(statusLine(200));
      for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
    };
    const finish = (): void => {
      source.destroy();
      resolve();
    };
    state.onAbort(finish);
    source.on('data', (chunk: Buffer) => {
      if (state.aborted) return finish();
      let ok = true;
      res.cork(() => {
        start();
        ok = res.write(chunk);
      });
      if (!ok) {
        source.pause();
        res.onWritable(() => {
          source.resume();
          return true;
        });
      }
    });
    source.once('end', () => {
      if (!state.aborted) res.cork(() => {
        start();
        res.end();
      });
      resolve();
    });
    source.once('error', () => {
      // Headers may be out already: all we can do is cut the connection so the client sees a short body.
      if (!state.aborted) res.close();
      resolve();
    });
  });
}

/**
 * Streams a request body into `upload`, pausing the socket while the disk catches up. Over
 * `limit` bytes: `413`, and the upload is discarded. Resolves once the whole body is written.
 * `body` holds the chunks that arrived before the upload was ready.
 */
export function bodyToUpload(
  res: HttpResponse,
  state: AbortState,
  body: BodyBuffer,
  upload: Upload,
  limit: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const take = (chunk: Buffer, isLast: boolean): void => {
      size += chunk.length;
      if (size > limit) {
        reject(new HubError('too_large', `The upload is over HUB_MAX_UPLOAD_BYTES (${limit})`));
        return;
      }
      if (!upload.write(chunk)) {
        res.pause();
        upload.onDrain(() => {
          if (!state.aborted) res.resume();
        });
      }
      if (isLast) resolve();
    };
    state.onAbort(() => reject(new Error('aborted')));
    body.drainInto(take);
  });
}

/**
 * Holds the body chunks that arrive while the handler is still checking the token: uWS wants
 * `onData` attached before the handler returns, so it is attached at once and paused.
 */
export class BodyBuffer {
  private early: { chunk: Buffer; isLast: boolean }[] = [];
  private sink: ((chunk: Buffer, isLast: boolean) => void) | undefined;
  private done = false;
  private paused = false;

  constructor(private readonly res: HttpResponse) {
    res.onData((ab, isLast) => {
      // The chunk's memory is uWS': copy it.
      const chunk = Buffer.from(ab.slice(0));
      if (isLast) this.done = true;
      if (this.sink !== undefined) this.sink(chunk, isLast);
      else {
        this.early.push({ chunk, isLast });
        if (!this.paused) {
          this.paused = true;
          res.pause();
        }
      }
    });
  }

  get complete(): boolean {
    return this.done;
  }

  /** Drops the body (the request was refused) and lets the connection read again. */
  discard(): void {
    this.drainInto(() => undefined);
  }

  drainInto(sink: (chunk: Buffer, isLast: boolean) => void): void {
    this.sink = sink;
    for (const { chunk, isLast } of this.early.splice(0)) sink(chunk, isLast);
    // Resume even when the body is complete: a paused socket would never read the next
    // request of a keep-alive connection (regression test: files.test.ts).
    if (this.paused) {
      this.paused = false;
      this.res.resume();
    }
  }
}
