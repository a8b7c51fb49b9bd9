/**
 * Login tokens: HS256 JWTs (jose) with `sub` = the user's public_id, `role`, `jti`, `iat`, `exp`.
 * The algorithm is pinned on verify, so `alg: none` or an RS/HS confusion is refused.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { unauthorized } from '../errors.js';

const ALG = 'HS256';
const ISSUER = 'telemetry-hub';

export interface JwtClaims {
  sub: string;
  role: string;
  jti: string;
  /** Seconds since the epoch. */
  exp: number;
  iat: number;
  /** The user's token generation when it was issued (0 for tokens from before it existed). */
  gen: number;
}

export class JwtCodec {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    /** Lifetime of issued tokens, seconds. */
    readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  /** A new token for `sub`; returns it with its claims. */
  async sign(sub: string, role: string, gen = 0): Promise<{ token: string; claims: JwtClaims }> {
    const iat = Math.floor(Date.now() / 1000);
    const claims: JwtClaims = { sub, role, jti: randomUUID(), iat, exp: iat + this.ttlSeconds, gen };
    const token = await new SignJWT({ role, gen })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setSubject(sub)
      .setJti(claims.jti)
      .setIssuedAt(iat)
      .setExpirationTime(claims.exp)
      .setIssuer(ISSUER)
      .sign(this.key);
    return { token, claims };
  }

  /** The claims of a valid token; `401` for a bad signature, algorithm, expiry or shape. */
  async verify(token: string): Promise<JwtClaims> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: [ALG], issuer: ISSUER, requiredClaims: ['sub', 'jti', 'exp', 'iat'] });
      if (typeof payload.role !== 'string') throw unauthorized('Invalid token');
      const gen = payload.gen ?? 0;
      if (typeof gen !== 'number' || !Number.isSafeInteger(gen)) throw unauthorized('Invalid token');
      return { sub: payload.sub as string, role: payload.role, jti: payload.jti as string, exp: payload.exp as number, iat: payload.iat as number, gen };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw unauthorized('Token expired');
      throw unauthorized('Invalid token');
    }
  }
}

/** Does this string look like a JWT (three base64url parts)? API tokens do not. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
