/** Streaming between Node streams and uWS responses, with backpressure both ways. */
import type { Readable } from 'node:stream';
import { HubError } from '../errors.js';
import type { Upload } from '../domain/file-store.js';
import { sendError, statusLine, type AbortState } from './http.js';
import type { HttpResponse } from './uws.js';

/**
 * How a streamed response ended. `stalled`: the client took nothing for `stallMs` and was cut;
 * `expired`: it was still going after `maxMs` and was cut.
 */
export type StreamOutcome = 'done' | 'aborted' | 'stalled' | 'expired' | 'failed';

export interface StreamOptions {
  /** The body's size when known: sent as `Content-Length` (else the body is chunked). */
  readonly size?: number;
  /** A client that takes no bytes for this long is disconnected and the source released. */
  readonly stallMs: number;
  /**
   * However steadily the client reads, the response is cut after this long: a reader that takes
   * a trickle must not hold the source (an export's database connection) for hours.
   */
  readonly maxMs?: number;
}

/**
 * Streams `source` as a `200` body; pauses it while uWS cannot take more, and cuts the connection
 * of a client that stops reading for `stallMs`. Resolves once the source is finished with (ended
 * or destroyed), so whatever the source holds (a database connection) is released by then.
 *
 * With a known size the body goes out by `tryEnd` (uWS' VideoStreamer pattern): uWS sends
 * `Content-Length`, and `onWritable` retries what a full socket did not take. Chunked bodies are
 * wholly buffered by `write`, so `onWritable` only resumes the source, whose next write drains.
 */
export function pipeToResponse(
  res: HttpResponse,
  state: AbortState,
  source: Readable,
  headers: Record<string, string>,
  options: StreamOptions,
): Promise<StreamOutcome> {
  const { size, stallMs, maxMs } = options;
  return new Promise((resolve) => {
    let settled = false;
    let started = false;
    let stallTimer: NodeJS.Timeout | undefined;
    let maxTimer: NodeJS.Timeout | undefined;
    // Known size only: the part of the last chunk uWS did not take, and the write offset it starts at.
    let unsent: Buffer | undefined;
    let unsentOffset = 0;

    const settle = (outcome: StreamOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(stallTimer);
      clearTimeout(maxTimer);
      source.destroy();
      resolve(outcome);
    };
    const cut = (outcome: StreamOutcome): void => {
      const live = !state.aborted && !settled;
      settle(outcome);
      // Headers may be out already: all we can do is cut the connection (the client sees a short body).
      if (live) res.close();
    };
    const armStall = (): void => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => cut('stalled'), stallMs);
    };
    const start = (): void => {
      if (started) return;
      started = true;
      res.writeStatus(statusLine(200));
      for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
    };
    /** Sends `chunk` (corked by the caller); false when uWS is full and the source must wait. */
    const send = (chunk: Buffer): boolean => {
      start();
      if (size === undefined) return res.write(chunk);
      const offset = res.getWriteOffset();
      const [ok, done] = res.tryEnd(chunk, size);
      if (done) settle('done');
      else if (!ok) {
        unsent = chunk;
        unsentOffset = offset;
      }
      return ok || done;
    };
    const onWritable = (offset: number): boolean => {
      if (settled) return true;
      if (unsent === undefined) {
        // Chunked: uWS holds the whole chunk; the next write drains it.
        clearTimeout(stallTimer);
        source.resume();
        return true;
      }
      const rest = unsent.subarray(offset - unsentOffset);
      const [ok, done] = res.tryEnd(rest, size ?? 0);
      if (done) settle('done');
      else if (ok) {
        unsent = undefined;
        clearTimeout(stallTimer);
        source.resume();
      } else {
        // Some bytes went: that is progress, the stall bound starts again.
        unsent = rest;
        unsentOffset = offset;
        armStall();
      }
      return ok;
    };

    state.onAbort(() => settle('aborted'));
    if (maxMs !== undefined) maxTimer = setTimeout(() => cut('expired'), maxMs);
    source.on('data', (chunk: Buffer) => {
      if (settled) return;
      if (state.aborted) return settle('aborted');
      let ok = true;
      res.cork(() => {
        ok = send(chunk);
      });
      if (!ok && !settled) {
        source.pause();
        armStall();
        res.onWritable(onWritable);
      }
    });
    source.once('end', () => {
      if (settled) return;
      if (state.aborted) return settle('aborted');
      if (size !== undefined && started) return cut('failed'); // shorter than announced
      res.cork(() => {
        start();
        res.end();
      });
      settle('done');
    });
    source.once('error', (err) => {
      if (settled) return;
      if (started) return cut('failed');
      settle('failed');
      sendError(res, state, err);
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
    let paused = false;
    let settled = false;
    const resume = (): void => {
      if (!paused) return;
      paused = false;
      if (!state.aborted) res.resume();
    };
    const take = (chunk: Buffer, isLast: boolean): void => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        settled = true;
        // The rest of the body is read and dropped (BodyBuffer.discard): let the socket read.
        resume();
        reject(new HubError('too_large', `The upload is over HUB_MAX_UPLOAD_BYTES (${limit})`));
        return;
      }
      const accepted = upload.write(chunk);
      if (isLast) {
        // The disk may still be behind, but `commit` waits for it. The socket must read again:
        // a drain never comes once the file is ended, and a paused socket would never see the
        // next request of a keep-alive connection (regression test: files-keepalive.test.ts).
        settled = true;
        resume();
        resolve();
        return;
      }
      if (!accepted && !paused) {
        paused = true;
        res.pause();
        upload.onDrain(() => {
          if (!settled) resume();
        });
      }
    };
    state.onAbort(() => {
      settled = true;
      reject(new Error('aborted'));
    });
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
