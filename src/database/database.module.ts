import { Global, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ModuleRef } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

import type { AppConfigService } from '../config/app-config.js';
import { DatabaseEngine } from './database-engine.js';
import { buildDataSourceOptions } from './database.options.js';
import { runMigrationsLocked } from './migration-runner.js';

@Global()
@Module({
  providers: [
    {
      provide: DatabaseEngine,
      inject: [ConfigService, ModuleRef],
      useFactory: (config: AppConfigService, moduleRef: ModuleRef) =>
        DatabaseEngine.create(config, moduleRef),
    },
  ],
  exports: [DatabaseEngine],
})
class DatabaseEngineModule {}

@Module({
  imports: [
    DatabaseEngineModule,
    TypeOrmModule.forRootAsync({
      inject: [ConfigService, DatabaseEngine],
      useFactory: (config: AppConfigService, engine: DatabaseEngine) => ({
        ...buildDataSourceOptions({
          url: engine.url,
          poolSize: config.get('DATABASE_POOL_SIZE', { infer: true }),
        }),
        retryAttempts: 5,
        retryDelay: 2000,
      }),
      // Migrations run before any provider can touch the schema.
      dataSourceFactory: async (options) => {
        const dataSource = await new DataSource(options!).initialize();
        await runMigrationsLocked(dataSource);
        return dataSource;
      },
    }),
  ],
  exports: [DatabaseEngineModule],
})
export class DatabaseModule {}
