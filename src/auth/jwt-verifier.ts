import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';

import type { AppConfigService } from '../config/app-config.js';
import { DEV_JWT_SECRET } from '../config/env.validation.js';
import { ROLES, type AuthUser, type Role } from './roles.js';

export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

/**
 * Verifies the platform's JWTs: HS256 with AUTH_JWT_SECRET, or RS256 from AUTH_JWKS_URL.
 * Also mints tokens with the same secret (the `npm run token` CLI, the WeCom sign-in).
 */
@Injectable()
export class JwtVerifier {
  private readonly logger = new Logger(JwtVerifier.name);
  private readonly secret?: Uint8Array;
  private readonly jwks?: ReturnType<typeof createRemoteJWKSet>;

  constructor(@Inject(ConfigService) typed: AppConfigService) {
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
    let payload: JWTPayload;
    try {
      const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString());
      if (header?.alg === 'RS256' && this.jwks) {
        ({ payload } = await jwtVerify(token, this.jwks, { algorithms: ['RS256'] }));
      } else {
        if (!this.secret) throw new InvalidTokenError('HS256 tokens are not accepted');
        ({ payload } = await jwtVerify(token, this.secret, { algorithms: ['HS256'] }));
      }
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new InvalidTokenError('Token has expired');
      throw new InvalidTokenError('Token is invalid');
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 128) {
      throw new InvalidTokenError('Token has no subject');
    }
    const roles = Array.isArray(payload.roles)
      ? payload.roles.filter((r): r is Role => typeof r === 'string' && ROLES.includes(r as Role))
      : [];
    return { id: payload.sub, roles };
  }

  async sign(user: AuthUser, expiresIn: string | number = '1h'): Promise<string> {
    if (!this.secret) throw new Error('cannot mint tokens without AUTH_JWT_SECRET');
    return mintToken(this.secret, user, expiresIn);
  }
}

export function mintToken(
  secret: Uint8Array,
  user: AuthUser,
  expiresIn: string | number = '1h',
): Promise<string> {
  return new SignJWT({ roles: user.roles })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user.id)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(secret);
}
