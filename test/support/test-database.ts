import { randomBytes } from 'node:crypto';

import pg from 'pg';

import { EmbeddedPostgres } from '../../src/database/embedded-postgres.js';

export interface TestDatabase {
  /**
   * What the service under test connects as: the restricted role named by TEST_APP_ROLE
   * (NOSUPERUSER NOBYPASSRLS, rows only), else the same as `ownerUrl`.
   */
  url: string;
  /**
   * The database's owner (postgres on the server): it runs the migrations, and a spec uses it
   * explicitly for what must look behind the service's back (row counts, cutting sessions,
   * schema checks, DDL).
   */
  ownerUrl: string;
  /** The service's variables for this database: DATABASE_URL, and where to migrate. */
  env: DatabaseEnv;
  /**
   * A statement as the owner, behind the service's back: what a spec counts or arranges must not
   * depend on what the service's role may see (row-level security hides unscoped rows from it).
   * The rows, whatever the command.
   */
  ownerQuery<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  engine: 'postgresql' | 'pglite';
  drop(): Promise<void>;
}

// A type, not an interface: it spreads into the Record<string, string> of an app's variables.
export type DatabaseEnv = {
  DATABASE_URL: string;
  /** Only when the service does not migrate as itself (TEST_APP_ROLE). */
  DATABASE_MIGRATION_URL?: string;
};

/** True when specs run against a real PostgreSQL server (TEST_DATABASE_URL). */
export const hasServer = Boolean(process.env.TEST_DATABASE_URL);

/**
 * The role the service connects as in specs (`.ci/run` sets smbw_app), or undefined: everything
 * then connects as the TEST_DATABASE_URL user, as before. Only meaningful with a server.
 */
export const testAppRole = hasServer ? process.env.TEST_APP_ROLE || undefined : undefined;

if (testAppRole !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(testAppRole)) {
  throw new Error(`TEST_APP_ROLE must be a plain lower-case role name (got ${testAppRole})`);
}

/**
 * A fresh, empty database for one spec file: a new database on the TEST_DATABASE_URL server,
 * dropped afterwards, or an in-memory PGlite when no server is configured.
 *
 * With TEST_APP_ROLE the database is prepared as the README prepares a production one: its
 * owner grants the role, by default privileges, row access to every table and sequence it will
 * create, before any migration runs; the service then migrates as the owner and serves as the
 * role, so row-level security applies to everything the specs do through the service.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    const embedded = await EmbeddedPostgres.start('memory://', 12);
    const owner = new OwnerConnection(embedded.url);
    return {
      url: embedded.url,
      ownerUrl: embedded.url,
      env: { DATABASE_URL: embedded.url },
      ownerQuery: (sql, params) => owner.query(sql, params),
      engine: 'pglite',
      drop: async () => {
        await owner.close();
        await embedded.stop();
      },
    };
  }
  const name = `smbw_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await withClient(serverUrl, (admin) => admin.query(`CREATE DATABASE "${name}"`));
  const server = new URL(serverUrl);
  server.pathname = `/${name}`;
  const ownerUrl = server.toString();
  let url = ownerUrl;
  if (testAppRole) {
    await withClient(ownerUrl, (client) => client.query(grantsFor(testAppRole)));
    const app = new URL(ownerUrl);
    // Trust authentication on the test server (.ci/run): the role has no password.
    app.username = testAppRole;
    app.password = '';
    url = app.toString();
  }
  const owner = new OwnerConnection(ownerUrl);
  return {
    url,
    ownerUrl,
    ownerQuery: (sql, params) => owner.query(sql, params),
    env:
      url === ownerUrl
        ? { DATABASE_URL: url }
        : { DATABASE_URL: url, DATABASE_MIGRATION_URL: ownerUrl },
    engine: 'postgresql',
    drop: async () => {
      await owner.close();
      await withClient(serverUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
      );
    },
  };
}

/**
 * What the owner grants the service's role before migrating (the README's step): row access to
 * whatever the owner creates in the schema later, and nothing else: no CREATE, no TRUNCATE, no
 * table ownership.
 */
function grantsFor(role: string): string {
  return `
    GRANT USAGE ON SCHEMA public TO ${role};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${role};
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${role};
  `;
}

/** One owner session per test database, opened on first use. */
class OwnerConnection {
  private client: Promise<pg.Client> | undefined;

  constructor(private readonly url: string) {}

  async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
    this.client ??= this.connect();
    const result = await (await this.client).query(sql, params);
    return result.rows as T[];
  }

  async close(): Promise<void> {
    const client = await this.client?.catch(() => undefined);
    this.client = undefined;
    await client?.end();
  }

  private connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.url });
    const forget = () => {
      if (this.client === opening) this.client = undefined;
    };
    // A spec that cuts the database's sessions cuts this one too: the next query reconnects.
    client.on('error', forget);
    const opening = client.connect().then(() => client);
    opening.catch(forget);
    return opening;
  }
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * `describe` for specs that need real concurrency (advisory locks, SKIP LOCKED). Without
 * TEST_DATABASE_URL it is Jest's own `describe.skip`: the totals say how many were not run,
 * instead of counting a placeholder as passed.
 */
export const describeWithServer: jest.Describe = hasServer ? describe : describe.skip;

/** `describe` for specs about the restricted role itself: skipped unless TEST_APP_ROLE is set. */
export const describeWithAppRole: jest.Describe = testAppRole ? describe : describe.skip;
