import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { buildDataSourceOptions } from './database.options.js';

/** Any fixed 64-bit key; every instance uses the same one. */
const MIGRATION_LOCK_KEY = 7_215_001;

/**
 * Runs pending migrations under a session-level advisory lock: when several instances start at
 * once, one migrates and the others wait, then find nothing left to do.
 */
export async function runMigrationsLocked(
  dataSource: DataSource,
  logger = new Logger('Migrations'),
) {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      if (applied.length > 0) {
        logger.log(
          `Applied ${applied.length} migration(s): ${applied.map((m) => m.name).join(', ')}`,
        );
      } else {
        logger.log('Schema is up to date');
      }
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

/**
 * Runs the pending migrations on a connection of their own to `url` (DATABASE_MIGRATION_URL, the
 * schema owner), closed before the service opens its pool as a role that may only read and write
 * rows: the owner's connection never serves a request.
 */
export async function runMigrationsOn(url: string, logger = new Logger('Migrations')) {
  const dataSource = await new DataSource(
    // Two connections: one holds the advisory lock while the other migrates.
    buildDataSourceOptions({ url, poolSize: 2, applicationName: 'showmebug-wecom-migrations' }),
  ).initialize();
  try {
    await runMigrationsLocked(dataSource, logger);
  } finally {
    await dataSource.destroy();
  }
}
