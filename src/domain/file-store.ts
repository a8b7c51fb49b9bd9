/**
 * Uploaded files (firmware images, plugin packages) under `HUB_DATA_DIR/files`. A file is
 * written to a temporary name while hashed, and renamed into place only when complete: a failed
 * or aborted upload never leaves a partial file where a download could find it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

export type FileKind = 'firmware' | 'plugins';

export interface StoredFile {
  /** Relative to the store's root (what the database keeps). */
  readonly relativePath: string;
  readonly sha256: string;
  readonly size: number;
}

/** An upload in progress: feed it chunks, then `commit` or `discard`. */
export interface Upload {
  /** Writes one chunk; resolves when the disk has taken it (for backpressure). */
  write(chunk: Buffer): boolean;
  onDrain(callback: () => void): void;
  commit(): Promise<StoredFile>;
  discard(): Promise<void>;
}

export class FileStore {
  constructor(private readonly root: string) {}

  /** Starts writing the file of record `publicId`. */
  async begin(kind: FileKind, publicId: string): Promise<Upload> {
    const dir = path.join(this.root, kind);
    await mkdir(dir, { recursive: true });
    const relativePath = path.join(kind, publicId);
    const finalPath = path.join(this.root, relativePath);
    const tempPath = `${finalPath}.upload-${process.pid}-${Date.now()}`;
    const out: WriteStream = createWriteStream(tempPath, { mode: 0o600 });
    const hash = createHash('sha256');
    let size = 0;
    const closed = new Promise<void>((resolve, reject) => {
      out.once('close', resolve);
      out.once('error', reject);
    });
    return {
      write: (chunk) => {
        hash.update(chunk);
        size += chunk.length;
        return out.write(chunk);
      },
      onDrain: (callback) => out.once('drain', callback),
      commit: async () => {
        out.end();
        await closed;
        await rename(tempPath, finalPath);
        return { relativePath, sha256: hash.digest('hex'), size };
      },
      discard: async () => {
        out.destroy();
        await closed.catch(() => undefined);
        await unlink(tempPath).catch(() => undefined);
      },
    };
  }

  /** A stream of a stored file and its size. */
  async open(relativePath: string): Promise<{ stream: Readable; size: number }> {
    const full = path.join(this.root, relativePath);
    const { size } = await stat(full);
    return { stream: createReadStream(full), size };
  }

  async remove(relativePath: string): Promise<void> {
    await unlink(path.join(this.root, relativePath)).catch(() => undefined);
  }
}
