import 'reflect-metadata';

import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

import type { WeComSandbox } from '../tools/wecom-simulator/sandbox.js';
import { AppLogger } from './common/app-logger.js';
import { StartupError } from './common/startup-error.js';
import { isSandboxEnv } from './config/app-config.js';
import { EnvValidationError } from './config/env.validation.js';
import { loadEnvironment } from './config/load-environment.js';

async function bootstrap(): Promise<void> {
  // Validate before Nest starts, so a bad variable is one line on stderr and not a stack trace.
  let env;
  try {
    env = loadEnvironment();
  } catch (error) {
    if (error instanceof EnvValidationError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = new AppLogger(
    env.LOG_FORMAT ?? (env.NODE_ENV === 'production' ? 'json' : 'pretty'),
    env.LOG_LEVEL,
  );
  // Sandbox mode: the WeCom simulator (a tool, loaded only here) runs before the app, which
  // talks to it as WECOM_API_BASE_URL; closing the app stops it.
  let sandbox: WeComSandbox | undefined;
  if (isSandboxEnv(env)) {
    Logger.overrideLogger(logger);
    const { WeComSandbox } = await import('../tools/wecom-simulator/sandbox.js');
    try {
      sandbox = await WeComSandbox.start(env);
    } catch (error) {
      if (error instanceof StartupError) logger.error(error.message, WeComSandbox.name);
      throw error;
    }
  }
  const { AppModule } = await import('./app.module.js');
  const { configureApp, createHttpAdapter } = await import('./app.setup.js');
  const root = AppModule.forRoot(sandbox?.env ?? env);
  const app = await NestFactory.create<NestFastifyApplication>(
    sandbox?.around(root) ?? root,
    createHttpAdapter(env),
    {
      logger,
      bodyParser: false,
      // Errors reach the catch below (exit 1) instead of process.abort().
      abortOnError: false,
    },
  );
  configureApp(app);
  await app.listen(env.PORT, '0.0.0.0');
  await sandbox?.connect(app);
  Logger.log(`Listening on http://localhost:${env.PORT} (docs at /docs)`, 'Bootstrap');
}

bootstrap().catch((error: unknown) => {
  // Logged already (by Nest, or above for the sandbox), as the one line its message is.
  if (error instanceof StartupError) process.exit(1);
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`Start-up failed: ${message}\n`);
  process.exit(1);
});
