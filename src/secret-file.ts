/**
 * Secrets the hub generates once and keeps in `HUB_DATA_DIR` (the JWT key, the embedded
 * database's password), so a restart finds the same ones.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A random URL-safe secret of `bytes` bytes of entropy. */
export function generateSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * Returns the secret stored in `file`, creating it (mode 0600) on first use. `wx` makes two
 * processes racing on a fresh directory agree on one value instead of overwriting each other.
 */
export async function readOrCreateSecret(file: string, generate: () => string = generateSecret): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(path.dirname(file), { recursive: true });
  const secret = generate();
  try {
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return (await readFile(file, 'utf8')).trim();
  }
}

/** Writes `content` to `file` (mode 0600, its folder created), replacing what was there. */
export async function writeSecretFile(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, content, { mode: 0o600 });
  // `mode` applies only when the file is created.
  await chmod(file, 0o600);
}
