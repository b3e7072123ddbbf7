import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import pg from 'pg';
import { DataSource } from 'typeorm';

import {
  createTestDatabase,
  describeWithServer,
  type TestDatabase,
} from '../../test/support/test-database.js';
import { organizationScope } from '../common/organization-scope.js';
import { buildDataSourceOptions } from './database.options.js';
import { OrganizationScopeMismatchError, TransactionHost } from './transaction-host.js';

/**
 * The isolation mechanism for organisations (#12, docs/design/organisations.md), proved on its
 * own table: PostgreSQL row-level security keyed on a per-transaction setting, a service role
 * that is neither superuser nor BYPASSRLS, and TransactionHost, whose transactions set the
 * organisation of `organizationScope` first.
 *
 * Server only: roles and policies need a real PostgreSQL (PGlite runs everything as superuser,
 * which bypasses row-level security).
 */

/** The organisation a request or a job works for: the slot TransactionHost reads. */
const organization = {
  run: <T>(id: string, work: () => T): T => organizationScope.run({ id, slug: `org-${id}` }, work),
  get: () => organizationScope.get()?.id,
};

interface Note {
  id: number;
  organization_id: string;
  body: string;
}

describeWithServer('row-level security keyed on app.organization_id', () => {
  const suffix = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  /** Cluster-wide names: unique per run, dropped afterwards. */
  const appRole = `smbw_rls_app_${suffix}`;
  const ownerRole = `smbw_rls_owner_${suffix}`;
  const orgA = randomUUID();
  const orgB = randomUUID();

  let db: TestDatabase;
  /** The migration user (postgres in CI): owns the tables, creates the policies. */
  let owner: DataSource;
  /** The service: connected as the restricted role, one pooled connection so reuse is certain. */
  let app: DataSource;
  let sut: TransactionHost;

  const serverQuery = async (sql: string) => {
    const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  const urlAs = (role: string) => {
    const url = new URL(db.ownerUrl);
    url.username = role;
    url.password = '';
    return url.toString();
  };

  /** What the migration user sees: every row, whatever the policy says. */
  const allRows = async (): Promise<Note[]> =>
    owner.query('SELECT id, organization_id, body FROM rls_notes ORDER BY id');

  const bodies = (rows: { body: string }[]) => rows.map((r) => r.body).sort();

  beforeAll(async () => {
    db = await createTestDatabase();
    await serverQuery(
      `CREATE ROLE ${appRole} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT`,
    );
    await serverQuery(`CREATE ROLE ${ownerRole} LOGIN NOSUPERUSER NOBYPASSRLS`);

    owner = await new DataSource(
      buildDataSourceOptions({ url: db.ownerUrl, poolSize: 2 }),
    ).initialize();
    // The shape every organisation-owned table takes. The setting is '' rather than NULL once a
    // transaction on the session has set it (see the leak case), hence nullif: ''::uuid would
    // be an error, and a policy that errors would turn every unscoped query into a 500.
    await owner.query(`
      CREATE TABLE rls_notes (
        id serial PRIMARY KEY,
        organization_id uuid NOT NULL,
        body text NOT NULL
      );
      ALTER TABLE rls_notes ENABLE ROW LEVEL SECURITY;
      ALTER TABLE rls_notes FORCE ROW LEVEL SECURITY;
      CREATE POLICY organization_isolation ON rls_notes
        USING (organization_id = nullif(current_setting('app.organization_id', true), '')::uuid)
        WITH CHECK (organization_id = nullif(current_setting('app.organization_id', true), '')::uuid);
      GRANT SELECT, INSERT, UPDATE, DELETE ON rls_notes TO ${appRole};
      GRANT USAGE ON SEQUENCE rls_notes_id_seq TO ${appRole};

      -- The same rows without row-level security: the baseline for the cost figures.
      CREATE TABLE plain_notes (id serial PRIMARY KEY, organization_id uuid NOT NULL, body text NOT NULL);
      GRANT SELECT ON plain_notes TO ${appRole};
    `);

    // Refusals are what these cases expect: not logged as query errors.
    app = await new DataSource({
      ...buildDataSourceOptions({ url: urlAs(appRole), poolSize: 1 }),
      logger: 'advanced-console',
      logging: false,
    }).initialize();
    sut = new TransactionHost(app);
  });

  afterAll(async () => {
    await app?.destroy();
    await owner?.destroy();
    await db?.drop();
    // The roles hold privileges only in the dropped database, so they can go now.
    await serverQuery(`DROP ROLE IF EXISTS ${appRole}`);
    await serverQuery(`DROP ROLE IF EXISTS ${ownerRole}`);
  });

  beforeEach(async () => {
    await owner.query('TRUNCATE rls_notes RESTART IDENTITY');
    await owner.query(
      `INSERT INTO rls_notes (organization_id, body)
       VALUES ($1, 'a-1'), ($1, 'a-2'), ($2, 'b-1'), ($2, 'b-2')`,
      [orgA, orgB],
    );
  });

  it('the service role is neither superuser nor able to bypass row-level security', async () => {
    expect(
      await app.query('SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user'),
    ).toEqual([{ rolsuper: false, rolbypassrls: false }]);
  });

  describe('(a) without the setting', () => {
    it('a query returns nothing, outside and inside a transaction', async () => {
      expect(await app.query('SELECT * FROM rls_notes')).toEqual([]);
      expect(
        await sut.unscoped((m) => m.transaction((t) => t.query('SELECT * FROM rls_notes'))),
      ).toEqual([]);
      // The migration user (a superuser in CI) still sees everything: it must never be the
      // service's connection.
      expect(await allRows()).toHaveLength(4);
    });

    it('cannot insert, and updates or deletes nothing', async () => {
      await expect(
        app.query(`INSERT INTO rls_notes (organization_id, body) VALUES ($1, 'stray')`, [orgA]),
      ).rejects.toThrow(/row-level security policy/);
      await app.query(`UPDATE rls_notes SET body = 'changed'`);
      await app.query('DELETE FROM rls_notes');
      expect(bodies(await allRows())).toEqual(['a-1', 'a-2', 'b-1', 'b-2']);
    });
  });

  describe('(b) with the setting', () => {
    it('each organisation sees only its own rows', async () => {
      const read = (org: string) =>
        organization.run(org, () => sut.run((m) => m.query('SELECT body FROM rls_notes')));
      expect(bodies(await read(orgA))).toEqual(['a-1', 'a-2']);
      expect(bodies(await read(orgB))).toEqual(['b-1', 'b-2']);
      expect(await read(randomUUID())).toEqual([]);
    });

    it("an organisation can neither write rows into another's nor touch another's rows by id", async () => {
      const bRow = (await allRows()).find((r) => r.body === 'b-1')!;
      await organization.run(orgA, async () => {
        await expect(
          sut.transaction(() =>
            sut.run((m) =>
              m.query(`INSERT INTO rls_notes (organization_id, body) VALUES ($1, 'x')`, [orgB]),
            ),
          ),
        ).rejects.toThrow(/row-level security policy/);
        // Moving its own row into B is refused by WITH CHECK as well.
        await expect(
          sut.transaction(() =>
            sut.run((m) => m.query(`UPDATE rls_notes SET organization_id = $1`, [orgB])),
          ),
        ).rejects.toThrow(/row-level security policy/);
        const [, updated] = await sut.transaction(() =>
          sut.run((m) => m.query(`UPDATE rls_notes SET body = 'taken' WHERE id = $1`, [bRow.id])),
        );
        expect(updated).toBe(0);
        await sut.transaction(() =>
          sut.run((m) => m.query('DELETE FROM rls_notes WHERE id = $1', [bRow.id])),
        );
        await sut.transaction(() =>
          sut.run((m) =>
            m.query(`INSERT INTO rls_notes (organization_id, body) VALUES ($1, 'a-3')`, [orgA]),
          ),
        );
      });
      expect(bodies(await allRows())).toEqual(['a-1', 'a-2', 'a-3', 'b-1', 'b-2']);
    });

    it('a nested transaction joins the outer one, and refuses work for another organisation', async () => {
      const seen = await organization.run(orgA, () =>
        sut.transaction(() =>
          sut.transaction(() => sut.run((m) => m.query('SELECT body FROM rls_notes'))),
        ),
      );
      expect(bodies(seen)).toEqual(['a-1', 'a-2']);
      // Joined, B's work would run in A's transaction and see A's rows: refused instead.
      await expect(
        organization.run(orgA, () =>
          sut.transaction(() =>
            organization.run(orgB, () => sut.run((m) => m.query('SELECT body FROM rls_notes'))),
          ),
        ),
      ).rejects.toThrow(OrganizationScopeMismatchError);
    });
  });

  describe('(c) the setting ends with its transaction', () => {
    const backendPid = async () =>
      ((await app.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[])[0]!.pid;

    it('the next transaction on the same pooled connection sees nothing, after a commit or a rollback', async () => {
      const pid = await backendPid();
      await organization.run(orgA, () =>
        sut.transaction(async () => {
          expect(bodies(await sut.run((m) => m.query('SELECT body FROM rls_notes')))).toEqual([
            'a-1',
            'a-2',
          ]);
        }),
      );
      expect(await backendPid()).toBe(pid);
      expect(await app.query('SELECT body FROM rls_notes')).toEqual([]);
      expect(
        await sut.unscoped((m) => m.transaction((t) => t.query('SELECT body FROM rls_notes'))),
      ).toEqual([]);

      await expect(
        organization.run(orgB, () =>
          sut.transaction(async () => {
            await sut.run((m) => m.query('SELECT 1'));
            throw new Error('undo');
          }),
        ),
      ).rejects.toThrow('undo');
      expect(await backendPid()).toBe(pid);
      expect(await app.query('SELECT body FROM rls_notes')).toEqual([]);
    });

    it("the ended setting reads '' on that session, NULL on a fresh one: the policy needs nullif", async () => {
      await organization.run(orgA, () =>
        sut.transaction(() => sut.run((m) => m.query('SELECT 1'))),
      );
      expect(
        await app.query(`SELECT current_setting('app.organization_id', true) AS value`),
      ).toEqual([{ value: '' }]);

      const fresh = new pg.Client({ connectionString: urlAs(appRole) });
      await fresh.connect();
      try {
        const { rows } = await fresh.query(
          `SELECT current_setting('app.organization_id', true) AS value`,
        );
        expect(rows).toEqual([{ value: null }]);
      } finally {
        await fresh.end();
      }
      // Without nullif the same policy would fail every unscoped query on a used session.
      await expect(app.query(`SELECT ''::uuid`)).rejects.toThrow(/invalid input syntax/);
    });
  });

  describe('(d) reads outside an explicit transaction', () => {
    it("the pool's manager does not carry the organisation: run opens a transaction for the read", async () => {
      await organization.run(orgA, async () => {
        // A statement on the pool's manager (what unscoped passes) fails closed, not open...
        expect(await sut.unscoped((m) => m.query('SELECT body FROM rls_notes'))).toEqual([]);
        // ...so a repository's run outside a transaction opens one and sets the organisation.
        expect(bodies(await sut.run((m) => m.query('SELECT body FROM rls_notes')))).toEqual([
          'a-1',
          'a-2',
        ]);
      });
    });

    it('a session-level SET on checkout leaks to the next user of the pooled connection', async () => {
      // What "set it when the connection is taken from the pool" amounts to: a SET that lives
      // as long as the session, not the request. Request A sets it and returns the connection...
      await organization.run(orgA, () =>
        app.query(`SELECT set_config('app.organization_id', $1, false)`, [organization.get()]),
      );
      try {
        // ...and the next borrower, a job with no organisation (or one that forgot to set its
        // own), reads A's rows.
        expect(bodies(await app.query('SELECT body FROM rls_notes'))).toEqual(['a-1', 'a-2']);
        // A transaction-local setting on top does not clear it either once it ends.
        await organization.run(orgB, () =>
          sut.transaction(() => sut.run((m) => m.query('SELECT 1'))),
        );
        expect(bodies(await app.query('SELECT body FROM rls_notes'))).toEqual(['a-1', 'a-2']);
      } finally {
        await app.query('RESET app.organization_id');
      }
      expect(await app.query('SELECT body FROM rls_notes')).toEqual([]);
    });
  });

  it('FORCE makes a non-superuser table owner obey the policy too', async () => {
    await owner.query(`ALTER TABLE rls_notes OWNER TO ${ownerRole}`);
    const asOwner = await new DataSource(
      buildDataSourceOptions({ url: urlAs(ownerRole), poolSize: 1 }),
    ).initialize();
    try {
      expect(await asOwner.query('SELECT body FROM rls_notes')).toEqual([]);
      await owner.query('ALTER TABLE rls_notes NO FORCE ROW LEVEL SECURITY');
      expect(await asOwner.query('SELECT body FROM rls_notes')).toHaveLength(4);
    } finally {
      await owner.query('ALTER TABLE rls_notes FORCE ROW LEVEL SECURITY');
      await owner.query('ALTER TABLE rls_notes OWNER TO CURRENT_USER');
      await asOwner.destroy();
    }
  });

  it('(e) the cost: N single-row reads with and without the wrapping transaction', async () => {
    const n = 2000;
    await owner.query(
      `INSERT INTO plain_notes (organization_id, body)
       SELECT $1, 'row-' || i FROM generate_series(1, $2) AS i`,
      [orgA, n],
    );
    await owner.query(
      `INSERT INTO rls_notes (organization_id, body)
       SELECT $1, 'row-' || i FROM generate_series(1, $2) AS i`,
      [orgA, n],
    );
    await owner.query('ANALYZE plain_notes; ANALYZE rls_notes');
    const plainIds: number[] = (await owner.query('SELECT id FROM plain_notes ORDER BY id')).map(
      (r: { id: number }) => r.id,
    );
    const rlsIds: number[] = (
      await owner.query('SELECT id FROM rls_notes WHERE organization_id = $1 ORDER BY id', [orgA])
    ).map((r: { id: number }) => r.id);

    const variants: [string, (i: number) => Promise<unknown[]>][] = [
      [
        'unwrapped, no RLS (today)',
        (i) => app.query('SELECT body FROM plain_notes WHERE id = $1', [plainIds[i]]),
      ],
      [
        'transaction, no setting, no RLS',
        (i) =>
          sut.unscoped((m) =>
            m.transaction((t) =>
              t.query('SELECT body FROM plain_notes WHERE id = $1', [plainIds[i]]),
            ),
          ),
      ],
      [
        'TransactionHost.run: transaction + set_config, RLS',
        (i) =>
          organization.run(orgA, () =>
            sut.run((m) => m.query('SELECT body FROM rls_notes WHERE id = $1', [rlsIds[i]])),
          ),
      ],
    ];

    // Interleaved in rounds so that load from other processes on the machine and warm-up fall
    // on every variant alike.
    for (const [, read] of variants) for (let i = 0; i < 200; i++) await read(i % n);
    const spent = variants.map(() => 0);
    const rounds = 4;
    for (let round = 0; round < rounds; round++) {
      for (const [v, [name, read]] of variants.entries()) {
        const start = performance.now();
        for (let i = round; i < n; i += rounds) {
          const rows = await read(i);
          if (rows.length !== 1) throw new Error(`${name}: read ${i} saw ${rows.length} rows`);
        }
        spent[v]! += performance.now() - start;
      }
    }
    const figures = variants.map(
      ([name], v) =>
        `${name}: ${spent[v]!.toFixed(0)} ms for ${n}, ${((spent[v]! * 1000) / n).toFixed(0)} µs per read`,
    );
    process.stdout.write(`[rls] single-row reads, pool of 1:\n  ${figures.join('\n  ')}\n`);
  });
});
