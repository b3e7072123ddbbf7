import 'reflect-metadata';

import type { AddressInfo } from 'node:net';

import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';

import { AppLogger } from './common/app-logger.js';
import { StartupError } from './common/startup-error.js';
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
  const { AppModule } = await import('./app.module.js');
  const { configureApp } = await import('./app.setup.js');
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(env), {
    logger,
    bodyParser: false,
    // Errors reach the catch below (exit 1) instead of process.abort().
    abortOnError: false,
  });
  configureApp(app);
  await app.listen(env.PORT, '0.0.0.0');
  const { WeComSettings } = await import('./wecom/wecom-settings.js');
  const { port } = app.getHttpServer().address() as AddressInfo;
  app.get(WeComSettings).connectSimulatorCallback(`http://127.0.0.1:${port}`);
  Logger.log(`Listening on http://localhost:${env.PORT} (docs at /docs)`, 'Bootstrap');
}

bootstrap().catch((error: unknown) => {
  // Nest has logged it already, as the one line its message is.
  if (error instanceof StartupError) process.exit(1);
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`Start-up failed: ${message}\n`);
  process.exit(1);
});
