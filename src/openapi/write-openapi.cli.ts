// `npm run openapi [-- <file>]`: writes the OpenAPI document the service serves at /docs-json,
// without a server: the app is built on a throw-away in-memory database in sandbox mode, the
// document created, written as JSON, and the app closed. The environment is fixed here (no .env,
// no process.env), so the same code always writes the same file.
import 'reflect-metadata';

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { ConsoleLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

import { AppModule } from '../app.module.js';
import { createHttpAdapter } from '../app.setup.js';
import { validateEnv } from '../config/env.validation.js';
import { createOpenApiDocument } from './openapi-document.js';

const file = process.argv[2] ?? 'clients/typescript/openapi.json';

const env = validateEnv({
  NODE_ENV: 'development',
  LOG_LEVEL: 'error',
  PGLITE_DIR: 'memory://',
  WECOM_SANDBOX: 'true',
  SIMULATOR_PORT: '0',
  CRON_ENABLED: 'false',
});
const app = await NestFactory.create<NestFastifyApplication>(
  AppModule.forRoot(env),
  createHttpAdapter(env),
  {
    logger: new ConsoleLogger({ logLevels: ['fatal', 'error'] }),
    bodyParser: false,
    abortOnError: false,
  },
);
try {
  const document = createOpenApiDocument(app);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(document, null, 2)}\n`);
  process.stdout.write(`Wrote ${file}\n`);
} finally {
  await app.close();
}
