import type { ConfigService } from '@nestjs/config';

import { DEV_JWT_SECRET, validateEnv } from '../config/env.validation.js';
import { JwtVerifier, mintToken } from './jwt-verifier.js';

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
