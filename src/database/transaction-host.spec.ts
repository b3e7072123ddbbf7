import { DataSource, type EntityManager } from 'typeorm';

import { createTestDatabase, type TestDatabase } from '../../test/support/test-database.js';
import { buildDataSourceOptions } from './database.options.js';
import { TransactionHost } from './transaction-host.js';

describe(TransactionHost.name, () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let sut: TransactionHost;

  beforeAll(async () => {
    db = await createTestDatabase();
    // The owner makes the table, the service's role uses it (TEST_APP_ROLE: it cannot create one).
    await db.ownerQuery('CREATE TABLE notes (body text NOT NULL)');
    dataSource = await new DataSource(
      buildDataSourceOptions({ url: db.url, poolSize: 2 }),
    ).initialize();
    sut = new TransactionHost(dataSource);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  beforeEach(() => dataSource.query('DELETE FROM notes'));

  const bodies = async () =>
    (await dataSource.query('SELECT body FROM notes ORDER BY body')).map(
      (r: { body: string }) => r.body,
    );

  it('knows whether a transaction is open, and whether its DataSource is', async () => {
    expect(sut.inTransaction).toBe(false);
    await sut.transaction(async () => {
      expect(sut.inTransaction).toBe(true);
    });
    expect(sut.inTransaction).toBe(false);
    expect(sut.isOpen).toBe(true);
    const closed = new TransactionHost(
      new DataSource(buildDataSourceOptions({ url: db.url, poolSize: 1 })),
    );
    expect(closed.isOpen).toBe(false);
  });

  it('run gives the pool manager outside a transaction and opens none: a failure undoes nothing', async () => {
    let seen: EntityManager | undefined;
    await expect(
      sut.run(async (manager) => {
        seen = manager;
        expect(sut.inTransaction).toBe(false);
        await manager.query(`INSERT INTO notes VALUES ('first')`);
        await manager.query(`INSERT INTO notes VALUES ('second')`);
        throw new Error('fail after two statements');
      }),
    ).rejects.toThrow('fail after two statements');
    expect(seen).toBe(dataSource.manager);
    // Each statement ran on its own, as a repository's did before run existed.
    expect(await bodies()).toEqual(['first', 'second']);
  });

  it("run inside a transaction uses that transaction's manager: its writes roll back with it", async () => {
    await expect(
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
    ).rejects.toThrow('undo');
    // ...and gone with its rollback.
    expect(await bodies()).toEqual([]);

    await sut.transaction(() => sut.run((m) => m.query(`INSERT INTO notes VALUES ('kept')`)));
    expect(await bodies()).toEqual(['kept']);
  });

  it('run answers what its work answers', async () => {
    expect(await sut.run(async () => 42)).toBe(42);
    expect(await sut.transaction(() => sut.run(async () => 'in'))).toBe('in');
  });

  it('a nested call joins the outer transaction: one rollback undoes both writes', async () => {
    await expect(
      sut.transaction(async () => {
        await sut.run((m) => m.query(`INSERT INTO notes VALUES ('outer')`));
        await sut.transaction(() => sut.run((m) => m.query(`INSERT INTO notes VALUES ('inner')`)));
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    expect(await bodies()).toEqual([]);
  });

  it('runs after-commit callbacks once the rows are visible, and never after a rollback', async () => {
    let visible: Promise<string[]> | undefined;
    await sut.transaction(async () => {
      await sut.run((m) => m.query(`INSERT INTO notes VALUES ('kept')`));
      sut.afterCommit(() => {
        visible = bodies();
      });
      expect(visible).toBeUndefined();
    });
    expect(await visible).toEqual(['kept']);

    let ranAfterRollback = false;
    await expect(
      sut.transaction(async () => {
        sut.afterCommit(() => {
          ranAfterRollback = true;
        });
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    expect(ranAfterRollback).toBe(false);
  });

  it('two hosts (two instances in one process) never join each other’s transaction', async () => {
    const other = new TransactionHost(dataSource);
    await sut.transaction(async () => {
      expect(other.inTransaction).toBe(false);
      expect(await other.run(async (m) => m)).toBe(dataSource.manager);
    });
  });

  it('outside a transaction an after-commit callback runs at once', () => {
    const calls: number[] = [];
    sut.afterCommit(() => calls.push(1));
    expect(calls).toEqual([1]);
  });
});
