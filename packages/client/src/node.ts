/**
 * @telemetry-hub/client/node — what only Node can do (files), kept out of the main entry so
 * browser bundles never see `node:` imports. Re-exports the main entry for convenience.
 */
import { open, readFile, rename } from 'node:fs/promises';
import type { SeqStore } from './seq-store.js';

export * from './index.js';

/** Keeps the mark in a file (Node): written to a temporary file, then renamed over it. */
export class FileSeqStore implements SeqStore {
  constructor(private readonly file: string) {}

  async load(): Promise<number | undefined> {
    try {
      const value = Number((await readFile(this.file, 'utf8')).trim());
      return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async save(seq: number): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(`${seq}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.file);
  }
}
