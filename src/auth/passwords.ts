/** Password hashing with argon2id (OWASP's first choice); hashes never leave the hub. */
import argon2 from 'argon2';
import { HubError } from '../errors.js';
import { KeyedSemaphore } from './rate-limit.js';

/**
 * argon2 runs on libuv's thread pool (4 threads), which file and DNS work share: at most this
 * many hashes or checks run at once, hub-wide, and at most QUEUED wait; more are refused (503),
 * so no caller can queue minutes of argon2 work in front of everyone's login and files.
 */
export const ARGON2_RUNNING = 2;
export const ARGON2_QUEUED = 64;
const argonSlots = new KeyedSemaphore(ARGON2_RUNNING, ARGON2_QUEUED);

async function withArgon2Slot<T>(work: () => Promise<T>): Promise<T> {
  if (!(await argonSlots.acquire(''))) throw new HubError('busy', 'Too many password operations at once; retry later', { retryAfterMs: 1000 });
  try {
    return await work();
  } finally {
    argonSlots.release('');
  }
}

/** argon2id with the library's defaults (m=64 MiB, t=3, p=4), the salt inside the hash string. */
export function hashPassword(password: string): Promise<string> {
  return withArgon2Slot(() => argon2.hash(password, { type: argon2.argon2id }));
}

/** Constant-time check of `password` against a stored hash; a malformed hash is a mismatch. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  return withArgon2Slot(async () => {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  });
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
