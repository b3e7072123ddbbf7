import { randomBytes } from 'node:crypto';

import pg from 'pg';

import { EmbeddedPostgres } from '../../src/database/embedded-postgres.js';

export interface TestDatabase {
  url: string;
  engine: 'postgresql' | 'pglite';
  drop(): Promise<void>;
}

/** True when specs run against a real PostgreSQL server (TEST_DATABASE_URL). */
export const hasServer = Boolean(process.env.TEST_DATABASE_URL);

/**
 * A fresh, empty database for one spec file: a new database on the TEST_DATABASE_URL server,
 * dropped afterwards, or an in-memory PGlite when no server is configured.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    const embedded = await EmbeddedPostgres.start('memory://', 12);
    return { url: embedded.url, engine: 'pglite', drop: () => embedded.stop() };
  }
  const name = `smbw_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    engine: 'postgresql',
    drop: async () => {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * `describe` for specs that need real concurrency (advisory locks, SKIP LOCKED). Without
 * TEST_DATABASE_URL it is Jest's own `describe.skip`: the totals say how many were not run,
 * instead of counting a placeholder as passed.
 */
export const describeWithServer: jest.Describe = hasServer ? describe : describe.skip;
