import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { DataSource } from 'typeorm';

import type { AppConfigService } from '../config/app-config.js';
import { EmbeddedPostgres } from './embedded-postgres.js';

export type DatabaseEngineKind = 'postgresql' | 'pglite';

/** Which database this process talks to, and the embedded one's lifecycle when it is PGlite. */
@Injectable()
export class DatabaseEngine implements OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseEngine.name);

  private constructor(
    readonly kind: DatabaseEngineKind,
    /** What the service's pool connects to. */
    readonly url: string,
    /** Where migrations run when not on `url`: DATABASE_MIGRATION_URL, the schema owner. */
    readonly migrationUrl: string | undefined,
    private readonly embedded: EmbeddedPostgres | undefined,
    private readonly moduleRef: ModuleRef,
  ) {}

  static async create(config: AppConfigService, moduleRef: ModuleRef): Promise<DatabaseEngine> {
    const logger = new Logger(DatabaseEngine.name);
    const url = config.get('DATABASE_URL', { infer: true });
    if (url) {
      const migrationUrl = config.get('DATABASE_MIGRATION_URL', { infer: true });
      logger.log(
        `Database: PostgreSQL server at ${describeUrl(url)}` +
          (migrationUrl ? ` (migrations as DATABASE_MIGRATION_URL's role)` : ''),
      );
      return new DatabaseEngine('postgresql', url, migrationUrl, undefined, moduleRef);
    }
    const dir = config.get('PGLITE_DIR', { infer: true });
    const embedded = await EmbeddedPostgres.start(
      dir,
      config.get('DATABASE_POOL_SIZE', { infer: true }),
    );
    logger.log(
      `Database: embedded PGlite at ${embedded.location} (DATABASE_URL is unset; set it to use a PostgreSQL server)`,
    );
    return new DatabaseEngine('pglite', embedded.url, undefined, embedded, moduleRef);
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.embedded) return;
    // The pool must close before the embedded server it talks to.
    const dataSource = this.moduleRef.get(DataSource, { strict: false });
    if (dataSource?.isInitialized) await dataSource.destroy();
    await this.embedded.stop();
    this.logger.log('Embedded PGlite closed');
  }
}

/** host:port/db without the user or password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}
