import type { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { buildDataSourceOptions } from '../../src/database/database.options.js';
import { runMigrationsLocked } from '../../src/database/migration-runner.js';
import { TransactionHost } from '../../src/database/transaction-host.js';
import { ENTITIES } from '../../src/entities.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

const quiet = { log: () => undefined } as unknown as Logger;

/**
 * A DataSource on `url` with the real migrations applied (quietly), for medium specs that build
 * a few providers by hand instead of the whole app. All entities are known by default: a
 * foreign key (interview_reminders → messages) needs both sides' metadata.
 */
export async function openMigratedDataSource(
  url: string,
  options: { poolSize?: number; entities?: Function[] } = {},
): Promise<DataSource> {
  const dataSource = await new DataSource(
    buildDataSourceOptions({
      url,
      poolSize: options.poolSize ?? 4,
      entities: options.entities ?? ENTITIES,
    }),
  ).initialize();
  await runMigrationsLocked(dataSource, quiet);
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
  const dataSource = await openMigratedDataSource(db.url, options);
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
