// The TypeORM CLI's DataSource (`npm run migration:*`), built by the same options function as
// the app. Migrations are the schema owner's work: it connects to DATABASE_MIGRATION_URL when
// set, else to DATABASE_URL; with both unset it opens the embedded PGlite in PGLITE_DIR, like
// `npm start`.
import 'reflect-metadata';

import { DataSource } from 'typeorm';

import { loadEnvironment } from './src/config/load-environment.js';
import { buildDataSourceOptions } from './src/database/database.options.js';
import { EmbeddedPostgres } from './src/database/embedded-postgres.js';
import { ENTITIES } from './src/entities.js';

const env = loadEnvironment();

export const embedded = env.DATABASE_URL
  ? undefined
  : await EmbeddedPostgres.start(env.PGLITE_DIR, env.DATABASE_POOL_SIZE);

export default new DataSource(
  buildDataSourceOptions({
    url: env.DATABASE_MIGRATION_URL ?? env.DATABASE_URL ?? embedded!.url,
    poolSize: env.DATABASE_POOL_SIZE,
    applicationName: 'showmebug-wecom-cli',
    entities: ENTITIES,
  }),
);
