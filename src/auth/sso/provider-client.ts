/**
 * The hub as an OpenID Connect relying party (panva's openid-client): discovery, the
 * authorization request (code + PKCE S256, state, nonce) and the checks of the callback.
 * @see PROTOCOL.md §17
 */
import * as oidc from 'openid-client';
import { isLoopbackUrl, type OidcConfig } from '../../config.js';

/** What the authorization request must be checked against at the callback. */
export interface PendingLogin {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
}

/** Claims of a verified sign-in: the ID token's, completed by the userinfo endpoint's. */
export type VerifiedClaims = Readonly<Record<string, unknown>> & { readonly iss: string; readonly sub: string };

/** A failed check, with a short slug for logs and metrics (never a token or a code). */
export class ProviderCheckFailed extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProviderCheckFailed';
  }
}

/** Discovery and request timeouts, seconds. */
const PROVIDER_TIMEOUT_S = 10;

export class ProviderClient {
  private configuration: Promise<oidc.Configuration> | undefined;

  constructor(private readonly config: OidcConfig) {}

  /**
   * The provider's configuration, discovered once and kept; a failed discovery is tried again
   * at the next login (the hub starts, and local accounts work, while the provider is down).
   */
  discover(): Promise<oidc.Configuration> {
    this.configuration ??= this.runDiscovery().catch((err: unknown) => {
      this.configuration = undefined;
      throw err;
    });
    return this.configuration;
  }

  private async runDiscovery(): Promise<oidc.Configuration> {
    const issuer = new URL(this.config.issuer);
    // openid-client speaks only https unless told; config.ts let http through on loopback only.
    const insecure = issuer.protocol === 'http:';
    const configuration = await oidc.discovery(
      issuer,
      this.config.clientId,
      { client_secret: this.config.clientSecret },
      oidc.ClientSecretBasic(this.config.clientSecret),
      { execute: insecure ? [oidc.allowInsecureRequests] : [], timeout: PROVIDER_TIMEOUT_S },
    );
    if (insecure) {
      // A loopback issuer must not send the hub over plain HTTP anywhere else.
      const metadata = configuration.serverMetadata();
      for (const key of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri'] as const) {
        const value = metadata[key];
        if (typeof value === 'string' && new URL(value).protocol === 'http:' && !isLoopbackUrl(new URL(value))) {
          throw new Error(`the provider's ${key} is plain HTTP off the loopback address`);
        }
      }
    }
    // Tokens from the token endpoint are checked against the provider's JWKS too, not only TLS.
    oidc.enableNonRepudiationChecks(configuration);
    return configuration;
  }

  /** A fresh authorization request: the provider's URL and what the callback must match. */
  async authorizationRequest(): Promise<{ url: URL; pending: PendingLogin }> {
    const configuration = await this.discover();
    const pending: PendingLogin = { state: oidc.randomState(), nonce: oidc.randomNonce(), codeVerifier: oidc.randomPKCECodeVerifier() };
    const url = oidc.buildAuthorizationUrl(configuration, {
      redirect_uri: this.config.redirectUrl,
      scope: this.config.scopes,
      response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url, pending };
  }

  /**
   * Checks the provider's redirect (`query` of the callback) and redeems its code: state,
   * PKCE, then the ID token's signature (JWKS), issuer, audience, expiry and nonce; userinfo
   * (its `sub` must be the ID token's) completes the claims. Throws {@link ProviderCheckFailed}.
   */
  async complete(query: string, pending: PendingLogin): Promise<VerifiedClaims> {
    const configuration = await this.discover();
    const callback = new URL(this.config.redirectUrl);
    callback.search = query;
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(configuration, callback, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw classify(err);
    }
    const idClaims = tokens.claims();
    if (idClaims === undefined) throw new ProviderCheckFailed('no_id_token', 'The provider returned no ID token');
    let userinfo: Record<string, unknown> = {};
    if (configuration.serverMetadata().userinfo_endpoint !== undefined && tokens.access_token !== undefined) {
      try {
        userinfo = await oidc.fetchUserInfo(configuration, tokens.access_token, idClaims.sub);
      } catch (err) {
        throw classify(err);
      }
    }
    // The ID token's claims win: they are the signed ones.
    return { ...userinfo, ...idClaims } as VerifiedClaims;
  }
}

/** An openid-client error as a check that failed, without the error's cause (it may hold the response). */
function classify(err: unknown): ProviderCheckFailed {
  if (err instanceof oidc.AuthorizationResponseError) {
    return new ProviderCheckFailed('provider_error', `The provider refused the sign-in (${slug(err.error)})`);
  }
  if (err instanceof oidc.ResponseBodyError) {
    return new ProviderCheckFailed('token_request_refused', `The provider refused the code (${slug(err.error)})`);
  }
  const code = (err as { code?: unknown }).code;
  // openid-client wraps oauth4webapi's error, whose message names the check (never a token).
  const cause = (err as { cause?: unknown }).cause;
  const message = cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      return new ProviderCheckFailed('id_token_expired', 'The ID token is expired or not yet valid');
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
    case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED':
      // Which claim: iss, aud, azp, nonce, state, sub (openid-client names it in the message).
      return new ProviderCheckFailed(`claim_mismatch:${/"(\w+)"/.exec(message)?.[1] ?? 'unknown'}`, 'The ID token does not match this sign-in');
    case 'OAUTH_KEY_SELECTION_FAILED':
      return new ProviderCheckFailed('bad_signature', 'The ID token signature is not the provider\'s');
    case 'OAUTH_INVALID_RESPONSE':
      if (/signature/i.test(message)) return new ProviderCheckFailed('bad_signature', 'The ID token signature is not the provider\'s');
      return new ProviderCheckFailed('invalid_response', 'The provider\'s answer is not valid');
    case 'OAUTH_RESPONSE_IS_NOT_CONFORM':
    case 'OAUTH_PARSE_ERROR':
      return new ProviderCheckFailed('invalid_response', 'The provider\'s answer is not valid');
    default:
      return new ProviderCheckFailed('check_failed', 'The sign-in could not be verified');
  }
}

/** An OAuth error code as it may appear in a log or message: a bounded slug. */
function slug(value: unknown): string {
  return typeof value === 'string' ? value.replace(/[^\w.-]/g, '').slice(0, 40) : 'unknown';
}
