import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import type { INestApplication } from '@nestjs/common';
import pg from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';

import { StartupError } from '../src/common/startup-error.js';
import { MIGRATIONS } from '../src/database/migrations/index.js';
import { LogRecorder } from './support/log-recorder.js';
import { createSandboxApp, tokenFor } from './support/test-app.js';
import {
  createTestDatabase,
  describeWithAppRole,
  describeWithServer,
  testAppRole,
  type TestDatabase,
} from './support/test-database.js';

/**
 * The service serves as a role that row-level security binds, and migrates as the schema's owner
 * (#12, docs/design/organisations.md section 5). Server only: PGlite has one user, a superuser.
 */

const ROLE_QUERY = `SELECT current_user AS name, r.rolsuper, r.rolbypassrls
                      FROM pg_roles r WHERE r.rolname = current_user`;

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Which role owns each table of the public schema. */
async function tableOwners(url: string): Promise<Map<string, string>> {
  const { rows } = await withClient(url, (c) =>
    c.query<{ tablename: string; tableowner: string }>(
      `SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'`,
    ),
  );
  return new Map(rows.map((r) => [r.tablename, r.tableowner]));
}

/** What the service logged about its role at start-up. */
const roleLines = (logs: LogRecorder, level: 'log' | 'warn') =>
  logs.lines(level).filter((line) => line.includes('Database role'));

describeWithAppRole('The service under TEST_APP_ROLE (.ci/run: smbw_app)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  const logs = new LogRecorder(['fatal', 'error', 'warn', 'log']);

  beforeAll(async () => {
    db = await createTestDatabase();
    ({ app } = await createSandboxApp(db.env, { logger: logs }));
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('connects as the role, which is neither superuser nor BYPASSRLS', async () => {
    expect(await app.get(DataSource).query(ROLE_QUERY)).toEqual([
      { name: testAppRole, rolsuper: false, rolbypassrls: false },
    ]);
    expect(roleLines(logs, 'log')).toEqual([
      `[Database] Database role ${testAppRole}: NOSUPERUSER NOBYPASSRLS, row-level security applies`,
    ]);
    expect(roleLines(logs, 'warn')).toEqual([]);
  });

  it('was migrated by the owner: it owns every table, the migrations table too, and wrote every migration', async () => {
    const owner = decodeURIComponent(new URL(db.ownerUrl).username);
    expect(owner).not.toBe(testAppRole);
    const owners = await tableOwners(db.ownerUrl);
    expect(owners.get('migrations')).toBe(owner);
    expect(new Set(owners.values())).toEqual(new Set([owner]));
    const applied = await db.ownerQuery<{ name: string }>(
      'SELECT name FROM migrations ORDER BY id',
    );
    expect(applied.map((m) => m.name)).toEqual(MIGRATIONS.map((m) => m.name));
  });

  it('reads and writes rows through the API, but cannot change the schema', async () => {
    const admin = await tokenFor('admin-1', 'admin');
    await request(app.getHttpServer())
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u-role', wecomUserId: 'zhangsan' })
      .expect(201);
    expect(
      await db.ownerQuery(
        `SELECT wecom_user_id FROM user_mappings WHERE platform_user_id = 'u-role'`,
      ),
    ).toEqual([{ wecom_user_id: 'zhangsan' }]);

    await withClient(db.url, async (asRole) => {
      await expect(asRole.query('CREATE TABLE intruder (id int)')).rejects.toThrow(
        /permission denied for schema public/,
      );
      await expect(asRole.query('TRUNCATE user_mappings')).rejects.toThrow(/permission denied/);
      await expect(
        asRole.query('ALTER TABLE user_mappings DISABLE ROW LEVEL SECURITY'),
      ).rejects.toThrow(/must be owner/);
    });
  });
});

describeWithAppRole('The service as TEST_APP_ROLE without DATABASE_MIGRATION_URL', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('refuses at once, in one line saying what to set, to migrate as a role that may not', async () => {
    const logs = new LogRecorder(['fatal', 'error', 'warn']);
    await expect(createSandboxApp({ DATABASE_URL: db.url }, { logger: logs })).rejects.toThrow(
      new StartupError(
        "The migrations were refused to DATABASE_URL's role (permission denied for schema public): " +
          'when DATABASE_URL names a role that may only read and write rows, set ' +
          'DATABASE_MIGRATION_URL to the schema owner (README: On a real PostgreSQL server)',
      ),
    );
    // Not retried: no waiting on a connection that privileges, not the network, refused.
    expect(logs.lines('error').filter((l) => l.includes('Retrying'))).toEqual([]);
    expect(
      await db.ownerQuery(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`),
    ).toEqual([]);
  });
});

describeWithServer('The start-up role check on a server', () => {
  let db: TestDatabase;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('warns once, in one line, when the service connects as a superuser', async () => {
    const logs = new LogRecorder(['fatal', 'error', 'warn', 'log']);
    // The owner (postgres in CI) as the service's own URL: what the README's "to try it" does.
    ({ app } = await createSandboxApp({ DATABASE_URL: db.ownerUrl }, { logger: logs }));
    const [role] = await app.get(DataSource).query(ROLE_QUERY);
    expect(role.rolsuper).toBe(true);
    expect(roleLines(logs, 'warn')).toEqual([
      `[Database] Database role ${role.name} is a superuser: row-level security does not apply to it, ` +
        `so isolation between organisations is not enforced by the database. Connect DATABASE_URL ` +
        `as a role with NOSUPERUSER NOBYPASSRLS and migrate with DATABASE_MIGRATION_URL (README: ` +
        `On a real PostgreSQL server)`,
    ]);
  });
});

/** Statement by statement, as psql sends them (CREATE DATABASE refuses a transaction). */
async function runAsPsql(client: pg.Client, sql: string): Promise<void> {
  for (const statement of sql.split(/;\s*$/m).map((s) => s.trim())) {
    if (statement) await client.query(statement);
  }
}

/** The README's SQL for a production server, in the order it gives it. */
function readmeRoleSetup(): string[] {
  const readme = readFileSync('README.md', 'utf8');
  const start = readme.indexOf('### On a real PostgreSQL server');
  expect(start).toBeGreaterThan(-1);
  const end = readme.indexOf('\n### ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```sql\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

describeWithServer('The README’s role setup, as written', () => {
  const suffix = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  /** The README's names made unique per run: roles are cluster-wide. */
  const names: Record<string, string> = {
    smbw_owner: `smbw_owner_${suffix}`,
    smbw_app: `smbw_app_${suffix}`,
    smbw: `smbw_readme_${suffix}`,
  };
  const rename = (sql: string) => sql.replace(/\b(smbw_owner|smbw_app|smbw)\b/g, (n) => names[n]!);
  const serverUrl = process.env.TEST_DATABASE_URL!;
  /** A URL as the README writes it: `role:password@host/smbw` (trust auth ignores the password). */
  const urlAs = (role: string, password: string) => {
    const url = new URL(serverUrl);
    url.username = role;
    url.password = password;
    url.pathname = `/${names.smbw}`;
    return url.toString();
  };
  const ownerUrl = () => urlAs(names.smbw_owner!, 'owner-password');
  const appUrl = () => urlAs(names.smbw_app!, 'app-password');

  let app: INestApplication | undefined;
  const logs = new LogRecorder(['fatal', 'error', 'warn', 'log']);

  beforeAll(async () => {
    const [asSuperuser, asOwner, ...rest] = readmeRoleSetup();
    expect(rest).toEqual([]);
    await withClient(serverUrl, (c) => runAsPsql(c, rename(asSuperuser!)));
    await withClient(ownerUrl(), (c) => runAsPsql(c, rename(asOwner!)));
    ({ app } = await createSandboxApp(
      { DATABASE_URL: appUrl(), DATABASE_MIGRATION_URL: ownerUrl() },
      { logger: logs },
    ));
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await withClient(serverUrl, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS "${names.smbw}" WITH (FORCE)`);
      // They owned only the dropped database and what was in it.
      await c.query(`DROP ROLE IF EXISTS ${names.smbw_app}`);
      await c.query(`DROP ROLE IF EXISTS ${names.smbw_owner}`);
    });
  });

  it('migrates as the owner, a role that is not a superuser either', async () => {
    const owners = await tableOwners(ownerUrl());
    expect(owners.get('migrations')).toBe(names.smbw_owner);
    expect(new Set(owners.values())).toEqual(new Set([names.smbw_owner]));
    const [owner] = await withClient(ownerUrl(), async (c) => (await c.query(ROLE_QUERY)).rows);
    expect(owner).toEqual({ name: names.smbw_owner, rolsuper: false, rolbypassrls: false });
  });

  it('serves as smbw_app, under row-level security, and reads and writes rows', async () => {
    expect(await app!.get(DataSource).query(ROLE_QUERY)).toEqual([
      { name: names.smbw_app, rolsuper: false, rolbypassrls: false },
    ]);
    expect(roleLines(logs, 'warn')).toEqual([]);
    const admin = await tokenFor('admin-1', 'admin');
    await request(app!.getHttpServer())
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u-readme', wecomUserId: 'lisi' })
      .expect(201);
    await request(app!.getHttpServer())
      .get('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .expect(200)
      .expect((res) => expect(JSON.stringify(res.body)).toContain('u-readme'));
  });
});
