/** Password hashing with argon2id (OWASP's first choice); hashes never leave the hub. */
import argon2 from 'argon2';

/** argon2id with the library's defaults (m=64 MiB, t=3, p=4), the salt inside the hash string. */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

/** Constant-time check of `password` against a stored hash; a malformed hash is a mismatch. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

// A hash of nothing anyone knows, checked when the username does not exist, so that the time a
// failed login takes does not tell whether the user exists.
let decoy: Promise<string> | undefined;
/** Spends the same work as a real check, for unknown usernames. */
export async function verifyDecoy(password: string): Promise<false> {
  decoy ??= hashPassword(`decoy-${Math.random()}`);
  await verifyPassword(await decoy, password);
  return false;
}
