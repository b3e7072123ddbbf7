import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';

import type { AppConfigService } from '../config/app-config.js';
import { DEV_JWT_SECRET } from '../config/env.validation.js';
import { ORGANIZATION_CLAIM_MAX_LENGTH, ROLES, type AuthUser, type Role } from './roles.js';

export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

/**
 * Verifies the platform's JWTs: HS256 with AUTH_JWT_SECRET, or RS256 from AUTH_JWKS_URL.
 * Every token must carry `exp`, and may live at most AUTH_MAX_TOKEN_TTL_S: a leaked token
 * without one would be valid for ever. Also mints tokens with the same secret (the
 * `npm run token` CLI, the WeCom sign-in).
 *
 * Expiry is judged on the system clock, as jose does (not the injectable Clock): tokens are
 * minted by other systems against real time.
 */
/** How long a verified token is answered from memory, at most (a JWKS key's removal shows then). */
const VERIFIED_FOR_MS = 60_000;
/** Tokens held verified; the oldest goes first beyond it. */
const VERIFIED_MAX = 10_000;

@Injectable()
export class JwtVerifier {
  private readonly logger = new Logger(JwtVerifier.name);
  /**
   * Tokens verified in the last minute, by their whole text: a frontend sends the same token
   * with every request, and verifying its signature again (WebCrypto, a job on the thread pool)
   * was the largest cost of a request that touches no database. A token held here is still
   * refused from the moment it expires.
   */
  private readonly verified = new Map<
    string,
    { user: AuthUser; expiresAtMs: number; verifiedAtMs: number }
  >();
  private readonly secret?: Uint8Array;
  private readonly jwks?: ReturnType<typeof createRemoteJWKSet>;
  private readonly maxTtlS: number;

  constructor(@Inject(ConfigService) typed: AppConfigService) {
    this.maxTtlS = typed.get('AUTH_MAX_TOKEN_TTL_S', { infer: true });
    const secret = typed.get('AUTH_JWT_SECRET', { infer: true });
    const production = typed.get('NODE_ENV', { infer: true }) === 'production';
    if (secret) {
      this.secret = new TextEncoder().encode(secret);
    } else if (!production) {
      this.logger.warn(
        'AUTH_JWT_SECRET is unset: using the built-in development secret (never do this in production)',
      );
      this.secret = new TextEncoder().encode(DEV_JWT_SECRET);
    }
    // In production without AUTH_JWT_SECRET (JWKS only), HS256 tokens are refused outright:
    // the development secret is public.
    const jwksUrl = typed.get('AUTH_JWKS_URL', { infer: true });
    if (jwksUrl) this.jwks = createRemoteJWKSet(new URL(jwksUrl));
  }

  async verify(token: string): Promise<AuthUser> {
    const now = Date.now();
    const held = this.verified.get(token);
    if (held && now - held.verifiedAtMs < VERIFIED_FOR_MS) {
      if (now < held.expiresAtMs) return copyOf(held.user);
      this.verified.delete(token);
      throw new InvalidTokenError('Token has expired');
    }
    const user = await this.verifySignature(token);
    return copyOf(user);
  }

  private async verifySignature(token: string): Promise<AuthUser> {
    let payload: JWTPayload;
    try {
      const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString());
      if (header?.alg === 'RS256' && this.jwks) {
        ({ payload } = await jwtVerify(token, this.jwks, {
          algorithms: ['RS256'],
          requiredClaims: ['exp'],
        }));
      } else {
        if (!this.secret) throw new InvalidTokenError('HS256 tokens are not accepted');
        ({ payload } = await jwtVerify(token, this.secret, {
          algorithms: ['HS256'],
          requiredClaims: ['exp'],
        }));
      }
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new InvalidTokenError('Token has expired');
      if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'exp') {
        throw new InvalidTokenError('Token has no expiry (exp); tokens must expire');
      }
      throw new InvalidTokenError('Token is invalid');
    }
    const lifetime = tokenLifetimeS(payload, Date.now() / 1000);
    if (lifetime > this.maxTtlS) {
      throw new InvalidTokenError(
        `Token lifetime exceeds the maximum of ${this.maxTtlS} s (AUTH_MAX_TOKEN_TTL_S)`,
      );
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 128) {
      throw new InvalidTokenError('Token has no subject');
    }
    const roles = Array.isArray(payload.roles)
      ? payload.roles.filter((r): r is Role => typeof r === 'string' && ROLES.includes(r as Role))
      : [];
    const organization = organizationClaim(payload);
    const user: AuthUser =
      organization === undefined
        ? { id: payload.sub, roles }
        : { id: payload.sub, roles, organization };
    this.hold(token, user, payload.exp! * 1000);
    return user;
  }

  private hold(token: string, user: AuthUser, expiresAtMs: number): void {
    this.verified.delete(token);
    if (this.verified.size >= VERIFIED_MAX) {
      this.verified.delete(this.verified.keys().next().value!);
    }
    this.verified.set(token, { user, expiresAtMs, verifiedAtMs: Date.now() });
  }

  async sign(user: AuthUser, expiresIn: string | number = '1h'): Promise<string> {
    if (!this.secret) throw new Error('cannot mint tokens without AUTH_JWT_SECRET');
    return mintToken(this.secret, user, expiresIn);
  }
}

/** Each caller gets its own: a request may add to its user, and must not add to the next one's. */
function copyOf(user: AuthUser): AuthUser {
  return { ...user, roles: [...user.roles] };
}

/**
 * The `org` claim: which organisation the token is for, by id or slug. Absent is allowed (one
 * organisation, or an operator); present, it must be a name, since a token that names its
 * organisation wrongly must not fall back to some other one.
 */
function organizationClaim(payload: JWTPayload): string | undefined {
  const org = payload.org;
  if (org === undefined) return undefined;
  if (typeof org !== 'string' || org.length === 0 || org.length > ORGANIZATION_CLAIM_MAX_LENGTH) {
    throw new InvalidTokenError(
      `Token claim org must be an organisation id or slug (a string of 1-${ORGANIZATION_CLAIM_MAX_LENGTH} characters)`,
    );
  }
  return org;
}

/**
 * How long a verified token lives: exp - iat, and never less than what is left of it (exp - now),
 * so an `iat` set in the future cannot stretch a token past the maximum.
 */
export function tokenLifetimeS(payload: JWTPayload, nowS: number): number {
  const exp = payload.exp ?? Number.POSITIVE_INFINITY;
  const remaining = exp - nowS;
  return typeof payload.iat === 'number' ? Math.max(exp - payload.iat, remaining) : remaining;
}

export function mintToken(
  secret: Uint8Array,
  user: AuthUser,
  expiresIn: string | number = '1h',
): Promise<string> {
  const claims =
    user.organization === undefined
      ? { roles: user.roles }
      : { roles: user.roles, org: user.organization };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user.id)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(secret);
}
