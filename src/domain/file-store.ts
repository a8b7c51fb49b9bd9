/**
 * Uploaded files (firmware images, plugin packages) under `HUB_DATA_DIR/files`. A file is
 * written to a temporary name while hashed, and renamed into place only when complete: a failed
 * or aborted upload never leaves a partial file where a download could find it.
 *
 * Every upload gets a final name of its own (`<public_id>.<random>`), never shared with another
 * upload of the same record: two concurrent uploads cannot overwrite each other's bytes, so the
 * hash and size recorded with a path always describe that path's file (files.ts records the
 * three in one UPDATE and removes the previous file afterwards).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

export type FileKind = 'firmware' | 'plugins';
const KINDS: readonly FileKind[] = ['firmware', 'plugins'];

/** `<final name>.upload-<pid>-<epoch ms>`: a file being uploaded by process `pid`. */
const TEMP_NAME = /\.upload-(\d+)-(\d+)$/;

export interface StoredFile {
  /** Relative to the store's root (what the database keeps). */
  readonly relativePath: string;
  readonly sha256: string;
  readonly size: number;
}

/** An upload in progress: feed it chunks, then `commit` or `discard`. */
export interface Upload {
  /** Writes one chunk; false when the disk is behind (wait for `onDrain`). */
  write(chunk: Buffer): boolean;
  onDrain(callback: () => void): void;
  commit(): Promise<StoredFile>;
  discard(): Promise<void>;
}

export class FileStore {
  constructor(private readonly root: string) {}

  /** Starts writing a new file for record `publicId`. */
  async begin(kind: FileKind, publicId: string): Promise<Upload> {
    const dir = path.join(this.root, kind);
    await mkdir(dir, { recursive: true });
    const relativePath = path.join(kind, `${publicId}.${randomBytes(8).toString('hex')}`);
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

  /**
   * Removes the temp files of uploads whose process is gone (a hub that crashed mid-upload); call
   * at start. Temp files of a live process (another hub sharing the directory) are left alone.
   * Returns how many were removed.
   */
  async cleanTemp(): Promise<number> {
    let removed = 0;
    for (const kind of KINDS) {
      const dir = path.join(this.root, kind);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        const match = TEMP_NAME.exec(name);
        if (match === null) continue;
        const pid = Number(match[1]);
        if (pid === process.pid || isAlive(pid)) continue;
        await unlink(path.join(dir, name)).then(
          () => removed++,
          () => undefined,
        );
      }
    }
    return removed;
  }
}

/** Does process `pid` exist? (Signal 0 checks without sending anything; EPERM: it exists, not ours.) */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
