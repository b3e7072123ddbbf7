import { randomBytes, randomUUID } from 'node:crypto';

import { Logger } from '@nestjs/common';
import pg from 'pg';
import { DataSource, type EntityManager } from 'typeorm';

import { rowsInEveryTable } from '../../test/support/every-table.js';
import { LogRecorder } from '../../test/support/log-recorder.js';
import { sqlInOrganization } from '../../test/support/organization-sql.js';
import {
  createTestDatabase,
  describeWithServer,
  type TestDatabase,
} from '../../test/support/test-database.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import { buildDataSourceOptions } from './database.options.js';
import { runMigrationsOn } from './migration-runner.js';
import { ORGANIZATION_OWNED_TABLES } from './migrations/1764500000001-OrganizationColumns.js';
import { OrganizationIsolation1764500000002 } from './migrations/1764500000002-OrganizationIsolation.js';
import { MIGRATIONS } from './migrations/index.js';

const quiet = { log: () => undefined } as unknown as Logger;
const A = DEFAULT_ORGANIZATION.id;
const B = randomUUID();

/**
 * The isolation the migration puts on the real tables, table by table, as the service's role
 * meets it: a role created here with NOSUPERUSER NOBYPASSRLS and row access only (what the
 * README grants smbw_app), on one pooled connection so that every statement reuses the session
 * the previous one left. Server only: PGlite runs everything as a superuser, which row-level
 * security never binds.
 */
describeWithServer(OrganizationIsolation1764500000002.name, () => {
  const role = `smbw_iso_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const logs = new LogRecorder();
  let db: TestDatabase;
  /** The owner (a superuser): fills and counts behind the service's back. */
  let owner: DataSource;
  /** The service's kind of role. */
  let app: DataSource;

  const asServer = async (sql: string) => {
    const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  /** Each organisation's rows of `table`, as the owner counts them. */
  const counts = async (table: string) => {
    const rows: { organization_id: string; n: number }[] = await owner.query(
      `SELECT organization_id, count(*)::int AS n FROM ${table} GROUP BY 1`,
    );
    return Object.fromEntries(rows.map((r) => [r.organization_id, r.n]));
  };

  /**
   * One of `organization`'s rows of `table`, whole, as JSON (read by the owner), but for the
   * generated columns, which PostgreSQL alone writes.
   */
  const rowOf = async (table: string, organization: string): Promise<Record<string, unknown>> => {
    const [{ row }]: { row: Record<string, unknown> }[] = await owner.query(
      `SELECT to_jsonb(t) - (SELECT coalesce(array_agg(column_name::text), '{}')
                               FROM information_schema.columns
                              WHERE table_schema = 'public' AND table_name = $2
                                AND is_generated = 'ALWAYS') AS row
         FROM ${table} t WHERE organization_id = $1 LIMIT 1`,
      [organization, table],
    );
    return row;
  };

  /** Inserts `row` into `table` as given (each of its columns named, organization_id included). */
  const insert = (m: EntityManager | DataSource, table: string, row: Record<string, unknown>) => {
    const columns = Object.keys(row)
      .map((c) => `"${c}"`)
      .join(', ');
    return m.query(
      `INSERT INTO ${table} (${columns})
       SELECT ${columns} FROM jsonb_populate_record(NULL::${table}, $1)`,
      [row],
    );
  };

  beforeAll(async () => {
    Logger.overrideLogger(logs);
    db = await createTestDatabase();
    await runMigrationsOn(db.ownerUrl, quiet);
    owner = await new DataSource(
      buildDataSourceOptions({ url: db.ownerUrl, poolSize: 2 }),
    ).initialize();
    await owner.query(`INSERT INTO organizations (id, slug, name) VALUES ($1, 'org-b', 'B')`, [B]);
    for (const [organization, corp] of [
      [A, 'ww-a'],
      [B, 'ww-b'],
    ]) {
      await sqlInOrganization(
        owner,
        async (m) => {
          for (const statement of rowsInEveryTable(corp)) await m.query(statement);
        },
        organization,
      );
    }
    await asServer(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`);
    await owner.query(`
      GRANT USAGE ON SCHEMA public TO ${role};
      GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role};
      GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
    const url = new URL(db.ownerUrl);
    url.username = role;
    url.password = '';
    app = await new DataSource(
      buildDataSourceOptions({ url: url.toString(), poolSize: 1 }),
    ).initialize();
  });

  afterAll(async () => {
    await app?.destroy();
    await owner?.destroy();
    await db?.drop();
    // Its privileges were in the dropped database only.
    await asServer(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    Logger.overrideLogger(true);
  });

  it('the service’s kind of role is neither superuser nor BYPASSRLS; the tables force their policy', async () => {
    expect(
      await app.query('SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user'),
    ).toEqual([{ rolsuper: false, rolbypassrls: false }]);
    const tables: { relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }[] =
      await owner.query(
        `SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
          WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY relname`,
      );
    const owned = new Set<string>(ORGANIZATION_OWNED_TABLES);
    for (const t of tables) {
      const secured = owned.has(t.relname);
      expect(t).toEqual({
        relname: t.relname,
        relrowsecurity: secured,
        relforcerowsecurity: secured,
      });
    }
  });

  describe.each(ORGANIZATION_OWNED_TABLES.map((t) => [t]))('%s', (table) => {
    it('holds rows of both organisations (so the cases below have something to hide)', async () => {
      const n = await counts(table);
      expect(n[A]).toBeGreaterThan(0);
      expect(n[B]).toBeGreaterThan(0);
    });

    it('an unscoped read returns nothing, also on a session a scoped transaction used before', async () => {
      expect(await app.query(`SELECT * FROM ${table}`)).toEqual([]);
      const [{ n: seenInB }]: { n: number }[] = await sqlInOrganization(
        app,
        (m) => m.query(`SELECT count(*)::int AS n FROM ${table}`),
        B,
      );
      expect(seenInB).toBe((await counts(table))[B]);
      // Same session (one pooled connection): the setting ended with the transaction.
      expect(await app.query(`SELECT * FROM ${table}`)).toEqual([]);
      expect(await app.transaction((m) => m.query(`SELECT * FROM ${table}`))).toEqual([]);
    });

    it('an unscoped insert is refused, whatever organisation the row names', async () => {
      const row = await rowOf(table, A);
      await expect(insert(app, table, row)).rejects.toThrow(
        `new row violates row-level security policy for table "${table}"`,
      );
      await expect(insert(app, table, { ...row, organization_id: null })).rejects.toThrow(
        `new row violates row-level security policy for table "${table}"`,
      );
    });

    it('an unscoped update or delete touches nothing', async () => {
      const before = await counts(table);
      await app.query(`UPDATE ${table} SET organization_id = organization_id`);
      await app.query(`DELETE FROM ${table}`);
      expect(await counts(table)).toEqual(before);
    });

    it('inside B, A’s rows can be neither read, written, moved into nor deleted', async () => {
      const before = await counts(table);
      const aRow = await rowOf(table, A);
      const inB = <T>(work: (m: EntityManager) => Promise<T>) => sqlInOrganization(app, work, B);
      const seen: { organization_id: string }[] = await inB((m) =>
        m.query(`SELECT organization_id FROM ${table}`),
      );
      expect(new Set(seen.map((r) => r.organization_id))).toEqual(new Set([B]));
      await expect(inB((m) => insert(m, table, aRow))).rejects.toThrow(
        `new row violates row-level security policy for table "${table}"`,
      );
      // B's own row moved to A: refused by WITH CHECK.
      await expect(
        inB((m) => m.query(`UPDATE ${table} SET organization_id = $1`, [A])),
      ).rejects.toThrow(`new row violates row-level security policy for table "${table}"`);
      await inB((m) => m.query(`DELETE FROM ${table} WHERE organization_id = $1`, [A]));
      expect(await counts(table)).toEqual(before);
    });
  });

  it('goes back (no policy, no forcing) and forward again', async () => {
    const migrations = await new DataSource({
      ...buildDataSourceOptions({ url: db.ownerUrl, poolSize: 1 }),
    }).initialize();
    try {
      // Back to before ours (and the ones after it, last first).
      const after = MIGRATIONS.length - MIGRATIONS.indexOf(OrganizationIsolation1764500000002);
      for (let i = 0; i < after; i++) await migrations.undoLastMigration({ transaction: 'each' });
      const [{ n }]: { n: number }[] = await owner.query(
        `SELECT count(*)::int AS n FROM pg_class
          WHERE relnamespace = 'public'::regnamespace AND (relrowsecurity OR relforcerowsecurity)`,
      );
      expect(n).toBe(0);
      expect(await app.query(`SELECT count(*)::int AS n FROM messages`)).toEqual([
        { n: (await counts('messages'))[A] + (await counts('messages'))[B] },
      ]);
      await runMigrationsOn(db.ownerUrl, quiet);
      expect(await app.query(`SELECT * FROM messages`)).toEqual([]);
    } finally {
      await migrations.destroy();
    }
  });
});
