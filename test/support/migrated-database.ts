import type { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { buildDataSourceOptions } from '../../src/database/database.options.js';
import { runMigrationsLocked, runMigrationsOn } from '../../src/database/migration-runner.js';
import { TransactionHost } from '../../src/database/transaction-host.js';
import { ENTITIES } from '../../src/entities.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

const quiet = { log: () => undefined } as unknown as Logger;

/**
 * A DataSource on the test database with the real migrations applied (quietly), for medium specs
 * that build a few providers by hand instead of the whole app. As the service does: the
 * migrations run as the owner (`ownerUrl`), the DataSource connects as `url` (the restricted
 * role under TEST_APP_ROLE). All entities are known by default: a foreign key
 * (interview_reminders → messages) needs both sides' metadata.
 */
export async function openMigratedDataSource(
  db: Pick<TestDatabase, 'url' | 'ownerUrl'>,
  options: { poolSize?: number; entities?: Function[] } = {},
): Promise<DataSource> {
  const separateOwner = db.ownerUrl !== db.url;
  if (separateOwner) await runMigrationsOn(db.ownerUrl, quiet);
  const dataSource = await new DataSource(
    buildDataSourceOptions({
      url: db.url,
      poolSize: options.poolSize ?? 4,
      entities: options.entities ?? ENTITIES,
    }),
  ).initialize();
  if (!separateOwner) await runMigrationsLocked(dataSource, quiet);
  return dataSource;
}

export interface MigratedDatabase {
  db: TestDatabase;
  dataSource: DataSource;
  /** What repositories take: transactions joined through AsyncLocalStorage. */
  host: TransactionHost;
  close(): Promise<void>;
}

/** A fresh test database (see createTestDatabase), migrated, with its TransactionHost. */
export async function createMigratedDatabase(
  options: { poolSize?: number } = {},
): Promise<MigratedDatabase> {
  const db = await createTestDatabase();
  const dataSource = await openMigratedDataSource(db, options);
  return {
    db,
    dataSource,
    host: new TransactionHost(dataSource),
    close: async () => {
      await dataSource.destroy();
      await db.drop();
    },
  };
}
