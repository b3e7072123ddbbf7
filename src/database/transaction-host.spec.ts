import { DataSource, type EntityManager } from 'typeorm';

import { inOrganization } from '../../test/support/in-organization.js';
import { createTestDatabase, type TestDatabase } from '../../test/support/test-database.js';
import type { OrganizationScope } from '../common/organization-scope.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import { buildDataSourceOptions } from './database.options.js';
import {
  NoOrganizationScopeError,
  OrganizationScopeMismatchError,
  TransactionHost,
  UnscopedInTransactionError,
} from './transaction-host.js';

const acme: OrganizationScope = { id: '0b7c7c52-6d1c-4a5e-9d0e-3f4b1a2c5d6e', slug: 'acme' };

/** What the session reads for the organisation: null when unset or ended. */
const SETTING = `SELECT nullif(current_setting('app.organization_id', true), '') AS id`;
const BACKEND = 'SELECT pg_backend_pid() AS pid';

describe(TransactionHost.name, () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  /** One pooled connection: every transaction and every unscoped statement share a backend. */
  let single: DataSource;
  let sut: TransactionHost;

  beforeAll(async () => {
    db = await createTestDatabase();
    // The owner makes the table, the service's role uses it (TEST_APP_ROLE: it cannot create one).
    await db.ownerQuery('CREATE TABLE notes (body text NOT NULL)');
    dataSource = await new DataSource(
      buildDataSourceOptions({ url: db.url, poolSize: 2 }),
    ).initialize();
    single = await new DataSource(
      buildDataSourceOptions({ url: db.url, poolSize: 1 }),
    ).initialize();
    sut = new TransactionHost(dataSource);
  });

  afterAll(async () => {
    await single?.destroy();
    await dataSource?.destroy();
    await db?.drop();
  });

  beforeEach(() => dataSource.query('DELETE FROM notes'));

  const bodies = async () =>
    (await dataSource.query('SELECT body FROM notes ORDER BY body')).map(
      (r: { body: string }) => r.body,
    );
  const settingIn = async (m: EntityManager) =>
    ((await m.query(SETTING)) as { id: string | null }[])[0]!.id;

  it('knows whether a transaction is open, and whether its DataSource is', async () => {
    expect(sut.inTransaction).toBe(false);
    await inOrganization(() =>
      sut.transaction(async () => {
        expect(sut.inTransaction).toBe(true);
      }),
    );
    expect(sut.inTransaction).toBe(false);
    expect(sut.isOpen).toBe(true);
    const closed = new TransactionHost(
      new DataSource(buildDataSourceOptions({ url: db.url, poolSize: 1 })),
    );
    expect(closed.isOpen).toBe(false);
  });

  describe('the organisation setting', () => {
    it('is the first thing a transaction sets: visible to all its statements', async () => {
      const seen = await inOrganization(
        () =>
          sut.transaction(async () => [
            await sut.run(settingIn),
            await sut.run((m) => m.query(`SELECT current_setting('app.organization_id') AS id`)),
          ]),
        acme,
      );
      expect(seen).toEqual([acme.id, [{ id: acme.id }]]);
    });

    it('ends with its transaction: the same backend reads none after a commit or a rollback', async () => {
      const host = new TransactionHost(single);
      const pid = async () => ((await single.query(BACKEND)) as { pid: number }[])[0]!.pid;
      const before = await pid();

      const inside = await inOrganization(
        () =>
          host.transaction(async () => [
            await host.run(settingIn),
            ((await host.run((m) => m.query(BACKEND))) as { pid: number }[])[0]!.pid,
          ]),
        acme,
      );
      expect(inside).toEqual([acme.id, before]);
      expect(await pid()).toBe(before);
      expect(await host.unscoped(settingIn)).toBeNull();

      await expect(
        inOrganization(() =>
          host.transaction(async () => {
            expect(await host.run(settingIn)).toBe(DEFAULT_ORGANIZATION.id);
            throw new Error('undo');
          }),
        ),
      ).rejects.toThrow('undo');
      expect(await pid()).toBe(before);
      expect(await host.unscoped(settingIn)).toBeNull();
      // A statement run by the pool itself (no transaction) reads none either.
      expect(((await single.query(SETTING)) as { id: null }[])[0]!.id).toBeNull();
    });

    it('opens in one round trip: START TRANSACTION and the setting are one message, then the work, then COMMIT', async () => {
      const sent: string[] = [];
      const recorded = await new DataSource({
        ...buildDataSourceOptions({ url: db.url, poolSize: 1 }),
        logger: {
          logQuery: (query: string) => void sent.push(query),
          logQueryError: () => undefined,
          logQuerySlow: () => undefined,
          logSchemaBuild: () => undefined,
          logMigration: () => undefined,
          log: () => undefined,
        },
      }).initialize();
      try {
        const host = new TransactionHost(recorded);
        sent.length = 0;
        const seen = await inOrganization(() => host.run(settingIn), acme);
        expect(seen).toBe(acme.id);
        expect(sent).toEqual([
          `START TRANSACTION; SELECT set_config('app.organization_id', '${acme.id}', true)`,
          SETTING,
          'COMMIT',
        ]);
      } finally {
        await recorded.destroy();
      }
    });

    it('leaves TypeORM in its own transaction state: a nested manager.transaction is a savepoint, and a failure rolls back', async () => {
      await inOrganization(() =>
        sut.transaction(() =>
          sut.run(async (m) => {
            await m.query(`INSERT INTO notes VALUES ('kept')`);
            // A savepoint (depth 1 -> 2): its failure undoes its own row only.
            await expect(
              m.transaction(async (inner) => {
                await inner.query(`INSERT INTO notes VALUES ('savepoint')`);
                throw new Error('undo the savepoint');
              }),
            ).rejects.toThrow('undo the savepoint');
            // Had TypeORM thought no transaction open, this would have committed 'kept' early.
            await m.transaction((inner) => inner.query(`INSERT INTO notes VALUES ('nested')`));
            expect(m.queryRunner?.isTransactionActive).toBe(true);
          }),
        ),
      );
      expect(await bodies()).toEqual(['kept', 'nested']);

      await expect(
        inOrganization(() =>
          sut.run(async (m) => {
            await m.query(`INSERT INTO notes VALUES ('undone')`);
            await m.query('SELECT 1/0');
          }),
        ),
      ).rejects.toThrow(/division by zero/);
      expect(await bodies()).toEqual(['kept', 'nested']);
      // The pool's connections came back usable (no transaction left open on them).
      await inOrganization(() => sut.run((m) => m.query(`INSERT INTO notes VALUES ('after')`)));
      expect(await bodies()).toEqual(['after', 'kept', 'nested']);
    });

    it('refuses an organisation id that is no UUID before sending anything', async () => {
      const odd: OrganizationScope = { id: "x'; DROP TABLE notes; --", slug: 'odd' };
      await expect(
        inOrganization(() => sut.run((m) => m.query(`INSERT INTO notes VALUES ('odd')`)), odd),
      ).rejects.toThrow(/not a UUID/);
      expect(await bodies()).toEqual([]);
    });

    it('without a scope, transaction and run refuse before any statement, with the fix in the message', async () => {
      let ran = false;
      const work = async () => {
        ran = true;
        await sut.run((m) => m.query(`INSERT INTO notes VALUES ('stray')`));
      };
      await expect(sut.transaction(work)).rejects.toThrow(NoOrganizationScopeError);
      await expect(sut.run((m) => m.query(`INSERT INTO notes VALUES ('stray')`))).rejects.toThrow(
        /OrganizationsService\.within/,
      );
      expect(ran).toBe(false);
      expect(sut.inTransaction).toBe(false);
      expect(await bodies()).toEqual([]);
    });

    it('a nested call for the same organisation joins; one for another throws and the outer work rolls back', async () => {
      await inOrganization(() =>
        sut.transaction(async () => {
          await sut.run((m) => m.query(`INSERT INTO notes VALUES ('outer')`));
          // The same organisation named afresh (a copy of the scope) still joins.
          await inOrganization(() =>
            sut.transaction(() => sut.run((m) => m.query(`INSERT INTO notes VALUES ('inner')`))),
          );
        }),
      );
      expect(await bodies()).toEqual(['inner', 'outer']);

      let reached = false;
      await expect(
        inOrganization(() =>
          sut.transaction(async () => {
            await sut.run((m) => m.query(`INSERT INTO notes VALUES ('default-row')`));
            await inOrganization(async () => {
              await sut.run((m) => m.query(`INSERT INTO notes VALUES ('acme-row')`));
              reached = true;
            }, acme);
          }),
        ),
      ).rejects.toThrow(OrganizationScopeMismatchError);
      expect(reached).toBe(false);
      await expect(
        inOrganization(() =>
          sut.transaction(() => inOrganization(() => sut.transaction(async () => 1), acme)),
        ),
      ).rejects.toThrow(/opened for organisation default was joined from work for acme/);
      expect(await bodies()).toEqual(['inner', 'outer']);
    });
  });

  it('run outside a transaction opens a scoped one for its statements: a failure undoes them all', async () => {
    let seen: EntityManager | undefined;
    await expect(
      inOrganization(() =>
        sut.run(async (manager) => {
          seen = manager;
          expect(sut.inTransaction).toBe(true);
          expect(await settingIn(manager)).toBe(DEFAULT_ORGANIZATION.id);
          await manager.query(`INSERT INTO notes VALUES ('first')`);
          await manager.query(`INSERT INTO notes VALUES ('second')`);
          throw new Error('fail after two statements');
        }),
      ),
    ).rejects.toThrow('fail after two statements');
    expect(seen).not.toBe(dataSource.manager);
    expect(sut.inTransaction).toBe(false);
    expect(await bodies()).toEqual([]);

    await inOrganization(() => sut.run((m) => m.query(`INSERT INTO notes VALUES ('kept')`)));
    expect(await bodies()).toEqual(['kept']);
  });

  it("run inside a transaction uses that transaction's manager: its writes roll back with it", async () => {
    await expect(
      inOrganization(() =>
        sut.transaction(async () => {
          const written = await sut.run(async (manager) => {
            expect(manager).not.toBe(dataSource.manager);
            await manager.query(`INSERT INTO notes VALUES ('inside')`);
            return manager.query('SELECT body FROM notes');
          });
          // Visible to the transaction itself...
          expect(written).toEqual([{ body: 'inside' }]);
          throw new Error('undo');
        }),
      ),
    ).rejects.toThrow('undo');
    // ...and gone with its rollback.
    expect(await bodies()).toEqual([]);

    await inOrganization(() =>
      sut.transaction(() => sut.run((m) => m.query(`INSERT INTO notes VALUES ('kept')`))),
    );
    expect(await bodies()).toEqual(['kept']);
  });

  it('run answers what its work answers', async () => {
    await inOrganization(async () => {
      expect(await sut.run(async () => 42)).toBe(42);
      expect(await sut.transaction(() => sut.run(async () => 'in'))).toBe('in');
    });
  });

  it('a nested call joins the outer transaction: one rollback undoes both writes', async () => {
    await expect(
      inOrganization(() =>
        sut.transaction(async () => {
          await sut.run((m) => m.query(`INSERT INTO notes VALUES ('outer')`));
          await sut.transaction(() =>
            sut.run((m) => m.query(`INSERT INTO notes VALUES ('inner')`)),
          );
          throw new Error('undo');
        }),
      ),
    ).rejects.toThrow('undo');
    expect(await bodies()).toEqual([]);
  });

  describe('unscoped', () => {
    it("runs on the pool's manager without the setting, each statement on its own", async () => {
      let seen: EntityManager | undefined;
      await expect(
        sut.unscoped(async (m) => {
          seen = m;
          expect(sut.inTransaction).toBe(false);
          expect(await settingIn(m)).toBeNull();
          await m.query(`INSERT INTO notes VALUES ('first')`);
          throw new Error('fail after one statement');
        }),
      ).rejects.toThrow('fail after one statement');
      expect(seen).toBe(dataSource.manager);
      expect(await bodies()).toEqual(['first']);
    });

    it('runs without the setting from inside a scope too, and may open a transaction of its own', async () => {
      const seen = await inOrganization(
        () =>
          sut.unscoped((m) =>
            m.transaction(async (t) => {
              await t.query(`INSERT INTO notes VALUES ('unscoped')`);
              return settingIn(t);
            }),
          ),
        acme,
      );
      expect(seen).toBeNull();
      expect(await bodies()).toEqual(['unscoped']);
    });

    it("is refused inside an organisation's transaction, which it would otherwise run in after all", async () => {
      await expect(
        inOrganization(() =>
          sut.transaction(async () => {
            await sut.run((m) => m.query(`INSERT INTO notes VALUES ('scoped')`));
            await sut.unscoped((m) => m.query(`INSERT INTO notes VALUES ('unscoped')`));
          }),
        ),
      ).rejects.toThrow(UnscopedInTransactionError);
      expect(await bodies()).toEqual([]);
    });
  });

  it('runs after-commit callbacks once the rows are visible, and never after a rollback', async () => {
    let visible: Promise<string[]> | undefined;
    await inOrganization(() =>
      sut.transaction(async () => {
        await sut.run((m) => m.query(`INSERT INTO notes VALUES ('kept')`));
        sut.afterCommit(() => {
          visible = bodies();
        });
        expect(visible).toBeUndefined();
      }),
    );
    expect(await visible).toEqual(['kept']);

    let ranAfterRollback = false;
    await expect(
      inOrganization(() =>
        sut.transaction(async () => {
          sut.afterCommit(() => {
            ranAfterRollback = true;
          });
          throw new Error('undo');
        }),
      ),
    ).rejects.toThrow('undo');
    expect(ranAfterRollback).toBe(false);
  });

  it('two hosts (two instances in one process) never join each other’s transaction', async () => {
    const other = new TransactionHost(dataSource);
    await inOrganization(() =>
      sut.transaction(async () => {
        expect(other.inTransaction).toBe(false);
        // The other host has no transaction open here, so unscoped work is not refused there.
        expect(await other.unscoped(async (m) => m)).toBe(dataSource.manager);
      }),
    );
  });

  it('outside a transaction an after-commit callback runs at once', () => {
    const calls: number[] = [];
    sut.afterCommit(() => calls.push(1));
    expect(calls).toEqual([1]);
  });
});
