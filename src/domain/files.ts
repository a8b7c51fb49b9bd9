/**
 * Firmware and plugin files, and the experiment CSV export: who may, which record, where the
 * bytes go, and how many exports may run. The HTTP streaming itself is the server's.
 * @see PROTOCOL.md §1
 */
import type { Readable } from 'node:stream';
import { eq } from 'drizzle-orm';
import type { Principal } from '../auth/principal.js';
import { exportExperimentCsv } from '../db/csv-export.js';
import type { Database } from '../db/database.js';
import type { Pool } from '../db/pool.js';
import { firmwareUpdates, pluginPackages } from '../db/schema.js';
import { HubError, forbidden } from '../errors.js';
import { toRecord, type WireRecord } from '../protocol/records.js';
import type { FileKind, FileStore, StoredFile } from './file-store.js';
import type { Repositories } from './resources.js';

/** The resources that carry a file, by the path segment of their routes. */
export const FILE_RESOURCES = {
  firmware_updates: { kind: 'firmware', table: firmwareUpdates },
  plugin_packages: { kind: 'plugins', table: pluginPackages },
} as const;
export type FileResource = keyof typeof FILE_RESOURCES;

/**
 * CSV exports stream for as long as their client reads, each on a database connection of its
 * own: they run on a small pool of their own (`total` connections, never the main pool's), at
 * most `perUser` at once per user, and a client that stops reading is cut after `stallMs`.
 */
export interface ExportLimits {
  /** Exports running at once in the hub: the size of the export pool. */
  readonly total: number;
  /** Exports one user may run or wait for at once; beyond: `429 rate_limited`. */
  readonly perUser: number;
  /** How long an export waits for a free slot; then `503 busy`. */
  readonly waitMs: number;
  /** An export whose client takes no bytes for this long is cut and its connection released. */
  readonly stallMs: number;
  /** However steadily its client reads, an export lasts at most this long (then it is cut). */
  readonly maxMs: number;
}

export const DEFAULT_EXPORT_LIMITS: ExportLimits = Object.freeze({ total: 4, perUser: 2, waitMs: 5_000, stallMs: 30_000, maxMs: 30 * 60_000 });

/** What a refused export suggests as `retry_after_ms`. */
const EXPORT_RETRY_AFTER_MS = 1_000;

export interface ExportResources {
  /** Connections for exports only, at least `limits.total` of them. */
  readonly pool: Pool;
  readonly limits?: ExportLimits;
}

export class FileService {
  readonly exportLimits: ExportLimits;
  private readonly exportSlots: ExportSlots;

  constructor(
    private readonly database: Database,
    private readonly repos: Repositories,
    readonly store: FileStore,
    private readonly exports: ExportResources,
  ) {
    this.exportLimits = exports.limits ?? DEFAULT_EXPORT_LIMITS;
    this.exportSlots = new ExportSlots(this.exportLimits);
  }

  /** Checks an upload may go ahead (admin, record exists); returns the store kind. */
  async authorizeUpload(principal: Principal, resource: FileResource, publicId: string): Promise<FileKind> {
    if (principal.role !== 'admin') throw forbidden('Only an admin can upload files');
    await this.repos[resource].getOr404(publicId);
    return FILE_RESOURCES[resource].kind;
  }

  /**
   * Records a completed upload on its record (path, hash and size in one UPDATE, so they always
   * describe the same bytes), then removes the file it replaces. Returns the record.
   */
  async saveUpload(resource: FileResource, publicId: string, file: StoredFile): Promise<WireRecord> {
    const { table } = FILE_RESOURCES[resource];
    const id = publicId.toLowerCase();
    // The row lock orders concurrent uploads: each one sees the path of the one before it.
    const saved = await this.database.db.transaction(async (tx) => {
      const [before] = await tx.select({ file_path: table.file_path }).from(table).where(eq(table.public_id, id)).for('update');
      if (before === undefined) return undefined;
      const [row] = await tx
        .update(table)
        .set({ file_path: file.relativePath, file_hash_sha256: file.sha256, file_size_bytes: file.size })
        .where(eq(table.public_id, id))
        .returning();
      return { row: row!, previous: before.file_path };
    });
    if (saved === undefined) {
      // Deleted while uploading: drop the orphan file.
      await this.store.remove(file.relativePath);
      return this.repos[resource].getOr404(publicId) as never;
    }
    if (saved.previous !== null && saved.previous !== file.relativePath) await this.store.remove(saved.previous);
    return toRecord(resource, saved.row);
  }

  /** The stored file of a record. Firmware: admins and any device; plugin packages: admins. */
  async openDownload(principal: Principal, resource: FileResource, publicId: string) {
    const mayRead = principal.role === 'admin' || (resource === 'firmware_updates' && principal.role === 'device');
    if (!mayRead) throw forbidden('Not allowed to download this file');
    for (let attempt = 0; ; attempt++) {
      const row = await this.repos[resource].getOr404(publicId);
      if (row.file_path === null) throw new HubError('not_found', `${this.repos[resource].entity} '${row.public_id}' has no file`);
      try {
        const { stream, size } = await this.store.open(row.file_path);
        const name = resource === 'firmware_updates' ? (row as { version: string }).version : (row as { package_name: string }).package_name;
        return { stream, size, sha256: row.file_hash_sha256 ?? '', name };
      } catch (err) {
        // A new upload replaced the file between reading the row and opening it: read the row again.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 2) throw err;
      }
    }
  }

  /**
   * The CSV export of an experiment, for any user (viewer and up), on an export slot that is
   * given back when the stream closes (ended, failed or destroyed).
   */
  async exportCsv(principal: Principal, experimentPublicId: string): Promise<{ stream: Readable; name: string }> {
    if (principal.role === 'device') throw forbidden('Devices cannot export experiments');
    const experiment = await this.repos.experiments.getOr404(experimentPublicId);
    const release = await this.exportSlots.acquire(principal.user.public_id);
    try {
      const stream = await exportExperimentCsv(this.exports.pool, experiment.public_id);
      stream.once('close', release);
      return { stream, name: experiment.name };
    } catch (err) {
      release();
      throw err;
    }
  }
}

/**
 * Counts running exports, hub-wide and per user, and queues those waiting for a slot (in order,
 * each for at most `waitMs`). A user's waiting exports count against their own cap too.
 */
class ExportSlots {
  private running = 0;
  private readonly byUser = new Map<string, number>();
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limits: ExportLimits) {}

  /** Takes a slot for `user`; resolves with the function that gives it back (idempotent). */
  async acquire(user: string): Promise<() => void> {
    const mine = this.byUser.get(user) ?? 0;
    if (mine >= this.limits.perUser) {
      throw new HubError('rate_limited', `At most ${this.limits.perUser} exports at once per user`, { retryAfterMs: EXPORT_RETRY_AFTER_MS });
    }
    this.byUser.set(user, mine + 1);
    const leave = (): void => {
      const left = (this.byUser.get(user) ?? 1) - 1;
      if (left > 0) this.byUser.set(user, left);
      else this.byUser.delete(user);
    };
    if (this.running < this.limits.total) {
      this.running++;
      return this.releaser(leave);
    }
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        clearTimeout(timer);
        resolve(this.releaser(leave));
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(grant), 1);
        leave();
        reject(new HubError('busy', 'Every export slot is taken; retry later', { retryAfterMs: EXPORT_RETRY_AFTER_MS }));
      }, this.limits.waitMs);
      this.waiting.push(grant);
    });
  }

  private releaser(leave: () => void): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      leave();
      // The slot passes straight to the next in line, or becomes free.
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.running--;
    };
  }
}
