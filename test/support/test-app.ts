import 'reflect-metadata';

import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';

import { AppModule } from '../../src/app.module.js';
import { configureApp } from '../../src/app.setup.js';
import { mintToken } from '../../src/auth/jwt-verifier.js';
import type { Role } from '../../src/auth/roles.js';
import { validateEnv } from '../../src/config/env.validation.js';

export const TEST_JWT_SECRET = 'test-secret-for-specs-only-0123456789';

/** The environment every e2e app starts from; each spec overrides what it needs. */
export function testEnv(overrides: Record<string, string | undefined> = {}) {
  return validateEnv({
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    CRON_ENABLED: 'false',
    SIMULATOR_PORT: '0',
    ...overrides,
  });
}

export async function createTestApp(
  overrides: Record<string, string | undefined>,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.forRoot(testEnv(overrides))],
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({
    bodyParser: false,
    logger: ['error', 'warn'],
  });
  configureApp(app);
  await app.init();
  return app;
}

export function tokenFor(sub: string, ...roles: Role[]): Promise<string> {
  return mintToken(new TextEncoder().encode(TEST_JWT_SECRET), { id: sub, roles });
}
