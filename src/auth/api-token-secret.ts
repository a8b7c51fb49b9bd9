/** API token secrets: random, shown once, stored only as SHA-256. @see PROTOCOL.md §8 */
import { createHash, randomBytes } from 'node:crypto';

/** Recognisable prefix, so secret scanners and people can tell what leaked. */
export const API_TOKEN_PREFIX = 'hub_';

/** A new secret with 256 bits of entropy. */
export function newApiTokenSecret(): string {
  return API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** The stored form of a secret. A fast hash is right here: the secret is random, not a password. */
export function hashApiToken(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
