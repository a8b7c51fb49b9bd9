/**
 * Short-lived values the hub hands to a browser and must get back unchanged: the SSO state
 * cookie and the one-time exchange code (PROTOCOL.md §17). Each is an encrypted JWT (JWE, `dir` +
 * `A256GCM`): tampering fails the authentication tag, the browser cannot read what is inside (the
 * PKCE verifier, the user), and `exp` bounds its life. Keys are derived from the hub's JWT secret,
 * one per purpose, so every hub sharing that secret accepts them and no purpose accepts another's.
 */
import { hkdfSync } from 'node:crypto';
import { EncryptJWT, jwtDecrypt, type JWTPayload } from 'jose';

export type SealPurpose = 'sso-state' | 'sso-code';

export class Sealer {
  private readonly keys: Record<SealPurpose, Uint8Array>;

  constructor(secret: string) {
    const derive = (purpose: SealPurpose): Uint8Array =>
      new Uint8Array(hkdfSync('sha256', secret, 'telemetry-hub', `telemetry-hub ${purpose}`, 32));
    this.keys = { 'sso-state': derive('sso-state'), 'sso-code': derive('sso-code') };
  }

  /** Seals `payload` for `purpose`, valid for `ttlSeconds`. */
  seal(purpose: SealPurpose, payload: JWTPayload, ttlSeconds: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new EncryptJWT(payload)
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setAudience(purpose)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlSeconds)
      .encrypt(this.keys[purpose]);
  }

  /** The payload of a value sealed for `purpose`, or undefined when forged, altered, expired or another purpose's. */
  async open(purpose: SealPurpose, sealed: string): Promise<JWTPayload | undefined> {
    if (sealed.length > 4096) return undefined;
    try {
      const { payload } = await jwtDecrypt(sealed, this.keys[purpose], {
        audience: purpose,
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
        requiredClaims: ['exp', 'iat'],
      });
      return payload;
    } catch {
      return undefined;
    }
  }
}
