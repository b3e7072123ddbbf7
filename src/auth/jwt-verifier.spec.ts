import type { ConfigService } from '@nestjs/config';
import { SignJWT } from 'jose';

import { DEV_JWT_SECRET, durationSeconds, validateEnv } from '../config/env.validation.js';
import { InvalidTokenError, JwtVerifier, mintToken } from './jwt-verifier.js';

function verifierFor(raw: Record<string, string>): JwtVerifier {
  const env = validateEnv(raw);
  const config = { get: (key: keyof typeof env) => env[key] } as unknown as ConfigService;
  return new JwtVerifier(config as never);
}

const devToken = () =>
  mintToken(new TextEncoder().encode(DEV_JWT_SECRET), { id: 'mallory', roles: ['admin'] });

describe(JwtVerifier.name, () => {
  it('accepts tokens signed with the development secret outside production', async () => {
    const sut = verifierFor({});
    await expect(sut.verify(await devToken())).resolves.toEqual({
      id: 'mallory',
      roles: ['admin'],
    });
  });

  it('refuses the public development secret in production with only a JWKS URL', async () => {
    const sut = verifierFor({
      NODE_ENV: 'production',
      AUTH_JWKS_URL: 'https://sso.example.com/jwks',
      WECOM_SANDBOX: 'true',
      APP_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
    });
    await expect(sut.verify(await devToken())).rejects.toThrow('Token is invalid');
  });

  it('refuses the development secret when a real secret is configured', async () => {
    const sut = verifierFor({ AUTH_JWT_SECRET: 'a-real-secret-of-enough-length' });
    await expect(sut.verify(await devToken())).rejects.toThrow('Token is invalid');
  });

  it('drops unknown roles and rejects tokens without a subject', async () => {
    const secret = 'a-real-secret-of-enough-length';
    const sut = verifierFor({ AUTH_JWT_SECRET: secret });
    const key = new TextEncoder().encode(secret);
    const token = await mintToken(key, { id: 'u1', roles: ['admin', 'root' as never] });
    await expect(sut.verify(token)).resolves.toEqual({ id: 'u1', roles: ['admin'] });
    await expect(sut.verify('not.a.jwt')).rejects.toThrow('Token is invalid');
  });
});

describe('JwtVerifier: tokens already verified', () => {
  it('still refuses a token from the moment it expires, verified or not', async () => {
    const sut = verifierFor({});
    // exp is in whole seconds: at most 2 s from now, more than 1 s away.
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await new SignJWT({ roles: ['recruiter'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('ivy')
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode(DEV_JWT_SECRET));
    await expect(sut.verify(token)).resolves.toEqual({ id: 'ivy', roles: ['recruiter'] });
    await expect(sut.verify(token)).resolves.toEqual({ id: 'ivy', roles: ['recruiter'] });
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 5));
    await expect(sut.verify(token)).rejects.toThrow('Token has expired');
    await expect(sut.verify(token)).rejects.toThrow('Token has expired');
  });

  it("gives each caller its own user: one request's change never reaches the next", async () => {
    const sut = verifierFor({});
    const token = await devToken();
    const first = await sut.verify(token);
    first.roles.push('operator');
    first.organization = 'acme';
    await expect(sut.verify(token)).resolves.toEqual({ id: 'mallory', roles: ['admin'] });
  });

  it('keeps refusing a forged token that differs from a verified one by its signature', async () => {
    const sut = verifierFor({});
    const token = await devToken();
    await sut.verify(token);
    const [header, payload] = token.split('.');
    await expect(sut.verify(`${header}.${payload}.${'A'.repeat(43)}`)).rejects.toThrow(
      'Token is invalid',
    );
  });
});

describe('JwtVerifier: the org claim', () => {
  const secret = 'a-real-secret-of-enough-length';
  const key = new TextEncoder().encode(secret);
  const sut = verifierFor({ AUTH_JWT_SECRET: secret });
  const tokenWithOrg = (org: unknown) =>
    new SignJWT({ roles: ['admin'], org })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('u1')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);

  it('reads the organisation a token names, by slug or id, and mints it back', async () => {
    await expect(sut.verify(await tokenWithOrg('acme'))).resolves.toEqual({
      id: 'u1',
      roles: ['admin'],
      organization: 'acme',
    });
    const id = '00000000-0000-0000-0000-000000000001';
    const minted = await mintToken(key, { id: 'u2', roles: ['recruiter'], organization: id });
    await expect(sut.verify(minted)).resolves.toEqual({
      id: 'u2',
      roles: ['recruiter'],
      organization: id,
    });
  });

  it('leaves organization out when the token has no org claim', async () => {
    const user = await sut.verify(await mintToken(key, { id: 'u1', roles: ['operator'] }));
    expect(user).toEqual({ id: 'u1', roles: ['operator'] });
    expect('organization' in user).toBe(false);
  });

  it.each([
    ['a number', 42],
    ['an array', ['acme']],
    ['an object', { slug: 'acme' }],
    ['null', null],
    ['an empty string', ''],
    ['65 characters', 'a'.repeat(65)],
  ])('refuses an org claim that is %s, saying why', async (_what, org) => {
    await expect(sut.verify(await tokenWithOrg(org))).rejects.toThrow(
      'Token claim org must be an organisation id or slug (a string of 1-64 characters)',
    );
  });
});

describe('JwtVerifier: token lifetime', () => {
  const secret = 'a-real-secret-of-enough-length';
  const key = new TextEncoder().encode(secret);
  const nowS = () => Math.floor(Date.now() / 1000);
  /** A token with exactly these claims (and a subject and role), signed with `secret`. */
  const tokenWith = (claims: { iat?: number; exp?: number }) => {
    let jwt = new SignJWT({ roles: ['admin'] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('u1');
    if (claims.iat !== undefined) jwt = jwt.setIssuedAt(claims.iat);
    if (claims.exp !== undefined) jwt = jwt.setExpirationTime(claims.exp);
    return jwt.sign(key);
  };

  it('refuses a token without exp, saying why', async () => {
    const sut = verifierFor({ AUTH_JWT_SECRET: secret });
    await expect(sut.verify(await tokenWith({ iat: nowS() }))).rejects.toThrow(
      'Token has no expiry (exp); tokens must expire',
    );
    await expect(sut.verify(await tokenWith({}))).rejects.toThrow(InvalidTokenError);
  });

  it('accepts a lifetime up to the default maximum of 24 h, refuses a longer one', async () => {
    const sut = verifierFor({ AUTH_JWT_SECRET: secret });
    const iat = nowS();
    await expect(sut.verify(await tokenWith({ iat, exp: iat + 86_400 }))).resolves.toEqual({
      id: 'u1',
      roles: ['admin'],
    });
    await expect(sut.verify(await tokenWith({ iat, exp: iat + 86_401 }))).rejects.toThrow(
      'Token lifetime exceeds the maximum of 86400 s (AUTH_MAX_TOKEN_TTL_S)',
    );
    await expect(
      sut.verify(await tokenWith({ iat, exp: iat + 10 * 365 * 86_400 })),
    ).rejects.toThrow(InvalidTokenError);
  });

  it('judges a token without iat by what is left of it', async () => {
    const sut = verifierFor({ AUTH_JWT_SECRET: secret });
    await expect(sut.verify(await tokenWith({ exp: nowS() + 3600 }))).resolves.toBeTruthy();
    await expect(sut.verify(await tokenWith({ exp: nowS() + 90_000 }))).rejects.toThrow(
      'Token lifetime exceeds the maximum',
    );
  });

  it('does not let an iat in the future stretch a token past the maximum', async () => {
    const sut = verifierFor({ AUTH_JWT_SECRET: secret });
    const iat = nowS() + 5 * 86_400;
    await expect(sut.verify(await tokenWith({ iat, exp: iat + 3600 }))).rejects.toThrow(
      'Token lifetime exceeds the maximum',
    );
  });

  it('takes the maximum from AUTH_MAX_TOKEN_TTL_S', async () => {
    const sut = verifierFor({
      AUTH_JWT_SECRET: secret,
      AUTH_MAX_TOKEN_TTL_S: '600',
      SIGNIN_JWT_TTL: '10m',
    });
    const iat = nowS();
    await expect(sut.verify(await tokenWith({ iat, exp: iat + 600 }))).resolves.toBeTruthy();
    await expect(sut.verify(await tokenWith({ iat, exp: iat + 601 }))).rejects.toThrow(
      'Token lifetime exceeds the maximum of 600 s (AUTH_MAX_TOKEN_TTL_S)',
    );
  });

  it('refuses a configuration whose sign-in tokens would outlive the maximum', () => {
    expect(() => validateEnv({ AUTH_MAX_TOKEN_TTL_S: '3600', SIGNIN_JWT_TTL: '8h' })).toThrow(
      'SIGNIN_JWT_TTL must not be longer than AUTH_MAX_TOKEN_TTL_S (3600 s)',
    );
    expect(() => validateEnv({ AUTH_MAX_TOKEN_TTL_S: '10' })).toThrow('AUTH_MAX_TOKEN_TTL_S');
    expect(validateEnv({ SIGNIN_JWT_TTL: '1d' }).AUTH_MAX_TOKEN_TTL_S).toBe(86_400);
    expect(durationSeconds('30m')).toBe(1800);
  });
});
