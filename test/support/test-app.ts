import 'reflect-metadata';

import { ConsoleLogger, type INestApplication, type LoggerService } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';

import { AppModule } from '../../src/app.module.js';
import { configureApp } from '../../src/app.setup.js';
import { Clock } from '../../src/common/clock.js';
import { mintToken } from '../../src/auth/jwt-verifier.js';
import type { Role } from '../../src/auth/roles.js';
import { validateEnv } from '../../src/config/env.validation.js';
import type { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';

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
  options: { clock?: Clock; logger?: LoggerService } = {},
): Promise<INestApplication> {
  let builder = Test.createTestingModule({
    imports: [AppModule.forRoot(testEnv(overrides))],
  });
  if (options.clock) builder = builder.overrideProvider(Clock).useValue(options.clock);
  if (options.logger) builder = builder.setLogger(options.logger);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({
    bodyParser: false,
    // Errors only, as Nest's testing logger prints them; an instance, not a list of levels, which
    // would keep the logger of the file's previous app (a LogRecorder would swallow its errors).
    logger: options.logger ?? new ConsoleLogger({ logLevels: ['fatal', 'error'] }),
  });
  configureApp(app);
  await app.init();
  return app;
}

export function tokenFor(sub: string, ...roles: Role[]): Promise<string> {
  return mintToken(new TextEncoder().encode(TEST_JWT_SECRET), { id: sub, roles });
}

/** Env that points an app at a simulator started by the spec (shared by several apps). */
export function simulatorEnv(url: string): Record<string, string> {
  return {
    WECOM_CORP_ID: 'ww-sandbox',
    WECOM_CORP_SECRET: 'sandbox-secret',
    WECOM_AGENT_ID: '1000002',
    WECOM_API_BASE_URL: url,
    WECOM_HTTP_TIMEOUT_MS: '2000',
  };
}

/** The text/markdown contents a simulated member received, oldest first. */
export function textsFor(sim: WeComSimulator, userid: string): string[] {
  return sim.messagesFor(userid).map((m) => {
    const body = m.body as { text?: { content?: string }; markdown?: { content?: string } };
    return body.text?.content ?? body.markdown?.content ?? '';
  });
}
