import type { Provider } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ScheduleModule } from '@nestjs/schedule';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';

import { configModuleFor } from '../../src/config/app-config.js';
import { validateEnv } from '../../src/config/env.validation.js';
import { buildDataSourceOptions } from '../../src/database/database.options.js';
import { openMigratedDataSource } from './migrated-database.js';
import type { TestDatabase } from './test-database.js';

/**
 * A background job's testing module over `db`'s migrated schema: the configuration from `env`
 * (the job's own loop off, CRON_ENABLED=false, unless `env` turns it on), the scheduler and the
 * event emitter, TypeORM, and `providers` (the job and what it needs, real or faked). Initialised.
 */
export async function jobTestingModule(
  db: TestDatabase,
  providers: Provider[],
  env: Record<string, string> = {},
): Promise<TestingModule> {
  const config = validateEnv({
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    CRON_ENABLED: 'false',
    ...env,
  });
  const moduleRef = await Test.createTestingModule({
    imports: [
      configModuleFor(config),
      ScheduleModule.forRoot(),
      EventEmitterModule.forRoot(),
      TypeOrmModule.forRootAsync({
        useFactory: () => buildDataSourceOptions({ url: db.url, poolSize: 4 }),
        dataSourceFactory: () => openMigratedDataSource(db),
      }),
    ],
    providers,
  }).compile();
  await moduleRef.init();
  return moduleRef;
}
