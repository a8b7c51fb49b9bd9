/**
 * The `postgres` system user that runs the embedded PostgreSQL when the hub runs as root
 * (PostgreSQL refuses to run as root), and what that user can reach. Reachability is asked of
 * the system itself, by running a command as that user, so groups, ACLs and mounts all count.
 */
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SystemUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

const NAME = 'postgres';

/** The `postgres` user, created (with its group) when it does not exist yet. */
export async function postgresSystemUser(): Promise<SystemUser> {
  const existing = await lookUp(NAME);
  if (existing !== undefined) return existing;
  try {
    await run('groupadd', ['--system', NAME]).catch(() => undefined);
    await run('useradd', ['--system', '--gid', NAME, '--no-create-home', '--shell', '/usr/sbin/nologin', NAME]);
  } catch (err) {
    throw new Error(`running as root, the embedded PostgreSQL needs a "${NAME}" system user, and creating it failed; create it (useradd --system ${NAME})`, {
      cause: err,
    });
  }
  const created = await lookUp(NAME);
  if (created === undefined) throw new Error(`the "${NAME}" system user was created but cannot be found`);
  return created;
}

async function lookUp(name: string): Promise<SystemUser | undefined> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { name, uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  } catch {
    return undefined;
  }
}

/** Can `user` traverse into directory `dir` (search permission on it and every parent)? */
export function canEnter(user: SystemUser, dir: string): boolean {
  return asUser(user, 'test', ['-x', dir]);
}

/** Does `binary --version` run as `user` (the binary, its libraries and every parent reachable)? */
export function canRun(user: SystemUser, binary: string): boolean {
  return asUser(user, binary, ['--version']);
}

/** The outermost directory on the way to `dir` that `user` cannot traverse, if any. */
export function firstBlocked(user: SystemUser, dir: string): string | undefined {
  const parts = path.resolve(dir).split(path.sep).filter((part) => part !== '');
  let at: string = path.sep;
  for (const part of parts) {
    at = path.join(at, part);
    if (!canEnter(user, at)) return at;
  }
  return undefined;
}

function asUser(user: SystemUser, command: string, args: string[]): boolean {
  // spawn drops root's supplementary groups when it switches user: the check sees what
  // PostgreSQL will see.
  const result = spawnSync(command, args, { uid: user.uid, gid: user.gid, stdio: 'ignore', timeout: 10_000 });
  return result.error === undefined && result.status === 0;
}
