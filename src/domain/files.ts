/**
 * Firmware and plugin files, and the experiment CSV export: who may, which record, where the
 * bytes go. The HTTP streaming itself is the server's.
 * @see PROTOCOL.md §1
 */
import type { Readable } from 'node:stream';
import { eq } from 'drizzle-orm';
import type { Principal } from '../auth/principal.js';
import { exportExperimentCsv } from '../db/csv-export.js';
import type { Database } from '../db/database.js';
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

export class FileService {
  constructor(
    private readonly database: Database,
    private readonly repos: Repositories,
    readonly store: FileStore,
  ) {}

  /** Checks an upload may go ahead (admin, record exists); returns the store kind. */
  async authorizeUpload(principal: Principal, resource: FileResource, publicId: string): Promise<FileKind> {
    if (principal.role !== 'admin') throw forbidden('Only an admin can upload files');
    await this.repos[resource].getOr404(publicId);
    return FILE_RESOURCES[resource].kind;
  }

  /** Records a completed upload on its record and returns the record. */
  async saveUpload(resource: FileResource, publicId: string, file: StoredFile): Promise<WireRecord> {
    const { table } = FILE_RESOURCES[resource];
    const [row] = await this.database.db
      .update(table)
      .set({ file_path: file.relativePath, file_hash_sha256: file.sha256, file_size_bytes: file.size })
      .where(eq(table.public_id, publicId.toLowerCase()))
      .returning();
    if (row === undefined) {
      // Deleted while uploading: drop the orphan file.
      await this.store.remove(file.relativePath);
      return this.repos[resource].getOr404(publicId) as never;
    }
    return toRecord(resource, row);
  }

  /** The stored file of a record. Firmware: admins and any device; plugin packages: admins. */
  async openDownload(principal: Principal, resource: FileResource, publicId: string) {
    const mayRead = principal.role === 'admin' || (resource === 'firmware_updates' && principal.role === 'device');
    if (!mayRead) throw forbidden('Not allowed to download this file');
    const row = await this.repos[resource].getOr404(publicId);
    if (row.file_path === null) throw new HubError('not_found', `${this.repos[resource].entity} '${row.public_id}' has no file`);
    const { stream, size } = await this.store.open(row.file_path);
    return { stream, size, sha256: row.file_hash_sha256 ?? '', name: `${resource === 'firmware_updates' ? (row as { version: string }).version : (row as { package_name: string }).package_name}` };
  }

  /** The CSV export of an experiment, for any user (viewer and up). */
  async exportCsv(principal: Principal, experimentPublicId: string): Promise<{ stream: Readable; name: string }> {
    if (principal.role === 'device') throw forbidden('Devices cannot export experiments');
    const experiment = await this.repos.experiments.getOr404(experimentPublicId);
    return { stream: await exportExperimentCsv(this.database.pool, experiment.public_id), name: experiment.name };
  }
}
