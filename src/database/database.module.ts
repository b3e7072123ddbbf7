import type { EventEmitter } from 'node:events';

import { Global, Logger, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ModuleRef } from '@nestjs/core';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';

import { StartupError } from '../common/startup-error.js';
import type { AppConfigService } from '../config/app-config.js';
import { DatabaseEngine } from './database-engine.js';
import { DatabaseHealth } from './database-health.js';
import { buildDataSourceOptions } from './database.options.js';
import { runMigrationsLocked, runMigrationsOn } from './migration-runner.js';
import { QueryErrorLogger } from './query-error-logger.js';
import { checkServiceRole, readOrganizationCount, readServiceRole } from './service-role.js';
import { TransactionHost } from './transaction-host.js';

/**
 * A pg client emits 'error' when the server ends its session (a restart, a failover,
 * pg_terminate_backend). The pool listens while a client is idle and TypeORM while a query
 * runner holds it, but not in between (a client released with an error, still closing): an
 * 'error' there, with no listener, would end the process. Every client gets a listener of its
 * own for its whole life; the query that was running still fails and is retried by its caller.
 */
function guardClientErrors(dataSource: DataSource): void {
  const pool = (dataSource.driver as { master?: PgPool }).master;
  if (!pool) return;
  const logger = new Logger('Database');
  const guard = (client: EventEmitter) => {
    client.on('error', (error: Error) => logger.warn(`a database session ended: ${error.message}`));
  };
  pool.on('connect', guard);
  for (const client of pool._clients ?? []) guard(client);
}

/**
 * Shutdown closes the pool while background work (a settings poll, a token load) may still be
 * running a query: the query fails, and that is expected, so it is not logged as an ERROR.
 */
class AppDataSource extends DataSource {
  override async destroy(): Promise<void> {
    if (this.logger instanceof QueryErrorLogger) this.logger.closingDown();
    await super.destroy();
  }
}

/**
 * A migration refused for want of privileges (SQLSTATE 42501) is a configuration to change, not
 * a connection to retry: said in one line, with what to set.
 */
function migrationsRefused(
  error: unknown,
  variable: 'DATABASE_URL' | 'DATABASE_MIGRATION_URL',
): unknown {
  if ((error as { code?: unknown } | undefined)?.code !== '42501') return error;
  const fix =
    variable === 'DATABASE_URL'
      ? 'when DATABASE_URL names a role that may only read and write rows, set DATABASE_MIGRATION_URL to the schema owner'
      : 'DATABASE_MIGRATION_URL must name the owner of the schema';
  return new StartupError(
    `The migrations were refused to ${variable}'s role (${(error as Error).message}): ${fix} (README: On a real PostgreSQL server)`,
  );
}

/**
 * TypeORM's options, and where the migrations run when that is not the service's own pool
 * (DATABASE_MIGRATION_URL): useFactory knows the engine, dataSourceFactory receives only this.
 */
type ServiceDataSourceOptions = TypeOrmModuleOptions & { migrationUrl?: string };

interface PgPool extends EventEmitter {
  _clients?: EventEmitter[];
}

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

@Global()
@Module({
  imports: [
    DatabaseEngineModule,
    TypeOrmModule.forRootAsync({
      inject: [ConfigService, DatabaseEngine],
      useFactory: (config: AppConfigService, engine: DatabaseEngine): ServiceDataSourceOptions => ({
        ...buildDataSourceOptions({
          url: engine.url,
          poolSize: config.get('DATABASE_POOL_SIZE', { infer: true }),
        }),
        // Each module registers its own entities (TypeOrmModule.forFeature).
        autoLoadEntities: true,
        retryAttempts: 5,
        retryDelay: 2000,
        // A server that is not up yet is worth waiting for; a role without privileges is not.
        toRetry: (error: unknown) => !(error instanceof StartupError),
        migrationUrl: engine.migrationUrl,
      }),
      // Migrations run before any provider can touch the schema: as the owner on a connection of
      // their own when DATABASE_MIGRATION_URL is set, else on the service's pool (as before).
      dataSourceFactory: async (options) => {
        const { migrationUrl, ...dataSourceOptions } = options as ServiceDataSourceOptions;
        if (migrationUrl) {
          await runMigrationsOn(migrationUrl).catch((error: unknown) => {
            throw migrationsRefused(error, 'DATABASE_MIGRATION_URL');
          });
        }
        const dataSource = await new AppDataSource(
          dataSourceOptions as DataSourceOptions,
        ).initialize();
        guardClientErrors(dataSource);
        if (!migrationUrl) {
          await runMigrationsLocked(dataSource).catch(async (error: unknown) => {
            await dataSource.destroy();
            throw migrationsRefused(error, 'DATABASE_URL');
          });
        }
        try {
          checkServiceRole(
            await readServiceRole(dataSource),
            await readOrganizationCount(dataSource),
            new Logger('Database'),
          );
        } catch (error) {
          await dataSource.destroy();
          throw error;
        }
        return dataSource;
      },
    }),
  ],
  providers: [TransactionHost, DatabaseHealth],
  exports: [DatabaseEngineModule, TransactionHost, DatabaseHealth],
})
export class DatabaseModule {}
