import type { DataSourceOptions } from 'typeorm';

import { MIGRATIONS } from './migrations/index.js';
import { QueryErrorLogger } from './query-error-logger.js';

export interface DatabaseConnectionSettings {
  url: string;
  poolSize: number;
  /** Name shown in pg_stat_activity, so operators can tell instances apart. */
  applicationName?: string;
  /**
   * The application registers each module's entities with `TypeOrmModule.forFeature` and leaves
   * this empty; the CLI and the schema spec, which run no modules, pass the full list
   * (src/entities.ts).
   */
  entities?: Function[];
}

/**
 * The one options function shared by the application (TypeOrmModule) and the TypeORM CLI
 * (ormconfig.ts). Migrations are listed explicitly rather than globbed, so the same list works
 * from `src` under Jest and from `dist` in production.
 */
export function buildDataSourceOptions(settings: DatabaseConnectionSettings): DataSourceOptions {
  return {
    type: 'postgres',
    url: settings.url,
    entities: settings.entities ?? [],
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    // The migrations own the schema, extensions included. Left on, TypeORM runs CREATE EXTENSION
    // "uuid-ossp" at every connect because of the uuid primary keys (PGlite has no such
    // extension, a non-superuser may not create it: a warning at every start) although the
    // migrations' defaults are gen_random_uuid(), built into PostgreSQL 13+. `pgcrypto` is the
    // option value that makes TypeORM name gen_random_uuid() too (in generated migrations).
    installExtensions: false,
    uuidExtension: 'pgcrypto',
    logging: ['error'],
    // Not TypeORM's console logger: that one prints a failed query's parameters (tokens).
    logger: new QueryErrorLogger(),
    extra: {
      max: settings.poolSize,
      application_name: settings.applicationName ?? 'showmebug-wecom',
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    },
  };
}
