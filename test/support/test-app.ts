import 'reflect-metadata';

import { ConsoleLogger, type INestApplication, Logger, type LoggerService } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test, type TestingModule } from '@nestjs/testing';
import request from 'supertest';

import { AppModule } from '../../src/app.module.js';
import { configureApp, createHttpAdapter } from '../../src/app.setup.js';
import { Clock } from '../../src/common/clock.js';
import { mintToken } from '../../src/auth/jwt-verifier.js';
import type { Role } from '../../src/auth/roles.js';
import { isSandboxEnv } from '../../src/config/app-config.js';
import { validateEnv } from '../../src/config/env.validation.js';
import { WeComSandbox } from '../../tools/wecom-simulator/sandbox.js';
import type { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { recordRoutes } from '../security/route-inventory.js';

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

/**
 * The app as main.ts builds it, not listening yet. In sandbox mode (no WECOM_CORP_ID) the WeCom
 * simulator starts first, on a free port (SIMULATOR_PORT=0), as main.ts starts it, and stops when
 * the app closes: `app.get(WeComSandbox)`; see createSandboxApp for the callback wiring.
 */
export async function createTestApp(
  overrides: Record<string, string | undefined>,
  options: { clock?: Clock; logger?: LoggerService } = {},
): Promise<INestApplication> {
  // Errors only, as Nest's testing logger prints them; an instance, not a list of levels, which
  // would keep the logger of the file's previous app (a LogRecorder would swallow its errors).
  const logger = options.logger ?? new ConsoleLogger({ logLevels: ['fatal', 'error'] });
  const env = testEnv(overrides);
  let sandbox: WeComSandbox | undefined;
  if (isSandboxEnv(env)) {
    Logger.overrideLogger(logger);
    sandbox = await WeComSandbox.start(env);
  }
  try {
    const root = AppModule.forRoot(sandbox?.env ?? env);
    let builder = Test.createTestingModule({ imports: [sandbox?.around(root) ?? root] });
    if (options.clock) builder = builder.overrideProvider(Clock).useValue(options.clock);
    if (options.logger) builder = builder.setLogger(options.logger);
    return await initHttpApp(await builder.compile(), env, logger);
  } catch (error) {
    await sandbox?.stop();
    throw error;
  }
}

/**
 * The HTTP app of a compiled module, as main.ts creates and configures it, initialised and with
 * Fastify ready (its routes are added at `ready`), so supertest can use app.getHttpServer().
 */
export async function initHttpApp(
  moduleRef: TestingModule,
  env: { TRUST_PROXY?: string },
  logger: LoggerService | false,
): Promise<NestFastifyApplication> {
  const app = moduleRef.createNestApplication<NestFastifyApplication>(createHttpAdapter(env), {
    bodyParser: false,
    logger,
  });
  recordRoutes(app.getHttpAdapter().getInstance());
  configureApp(app);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

/**
 * A sandbox app (no WECOM_CORP_ID) wired as main.ts wires it: the simulator started first, the
 * app listening on a free port of 127.0.0.1, and the simulator pushing its events to the app's
 * /wecom/callback with the runtime callback Token and EncodingAESKey. Closing the app stops both.
 */
export async function createSandboxApp(
  overrides: Record<string, string | undefined>,
  options: { clock?: Clock; logger?: LoggerService } = {},
): Promise<{ app: INestApplication; simulator: WeComSimulator }> {
  if (!isSandboxEnv(testEnv(overrides))) {
    throw new Error('createSandboxApp: not sandbox mode (WECOM_CORP_ID is set)');
  }
  const app = await createTestApp(overrides, options);
  const sandbox = app.get(WeComSandbox);
  await app.listen(0, '127.0.0.1');
  await sandbox.connect(app);
  return { app, simulator: sandbox.simulator! };
}

export function tokenFor(sub: string, ...roles: Role[]): Promise<string> {
  return mintToken(new TextEncoder().encode(TEST_JWT_SECRET), { id: sub, roles });
}

/** A token naming its organisation (the `org` claim), by id or slug. */
export function tokenIn(organization: string, sub: string, ...roles: Role[]): Promise<string> {
  return mintToken(new TextEncoder().encode(TEST_JWT_SECRET), { id: sub, roles, organization });
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

/** Maps each [platform user id, WeCom userid] pair through `POST /api/user-mappings`, as `admin`. */
export async function mapPeople(
  app: INestApplication,
  admin: string,
  pairs: readonly (readonly [string, string])[],
): Promise<void> {
  for (const [platformUserId, wecomUserId] of pairs) {
    await request(app.getHttpServer())
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId, wecomUserId })
      .expect(201);
  }
}
