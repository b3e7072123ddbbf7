import { Logger } from '@nestjs/common';

import { LogRecorder } from '../../test/support/log-recorder.js';
import { ManualClock } from '../common/clock.js';
import { organizationScope } from '../common/organization-scope.js';
import {
  createMigratedDatabase,
  type MigratedDatabase,
} from '../../test/support/migrated-database.js';
import { UnscopedInTransactionError } from '../database/transaction-host.js';
import { inOrganization } from '../../test/support/in-organization.js';
import { DEFAULT_ORGANIZATION } from './organization.js';
import { OrganizationsRepository } from './organizations.repository.js';
import { OrganizationsService } from './organizations.service.js';

describe(OrganizationsService.name, () => {
  let database: MigratedDatabase;
  let clock: ManualClock;
  let sut: OrganizationsService;

  beforeAll(async () => {
    database = await createMigratedDatabase();
  });

  afterAll(async () => {
    await database?.close();
  });

  beforeEach(async () => {
    await database.dataSource.query(`DELETE FROM organizations WHERE slug <> 'default'`);
    clock = new ManualClock(new Date('2030-01-02T03:04:05.000Z'));
    sut = new OrganizationsService(new OrganizationsRepository(database.host), clock);
  });

  it('the migration creates the default organisation with its fixed id, active', async () => {
    const [only, ...rest] = await sut.all();
    expect(rest).toEqual([]);
    expect(only).toMatchObject({ ...DEFAULT_ORGANIZATION, name: 'Default', status: 'active' });
  });

  it('finds an organisation by id or by slug, and nothing for an unknown name', async () => {
    await database.dataSource.query(
      `INSERT INTO organizations (slug, name) VALUES ('acme', 'Acme Ltd')`,
    );
    const bySlug = await sut.find('acme');
    expect(bySlug?.name).toBe('Acme Ltd');
    expect(await sut.find(bySlug!.id)).toEqual(bySlug);
    expect(await sut.find('nobody')).toBeUndefined();
  });

  it('lists only active organisations for background work', async () => {
    await database.dataSource.query(
      `INSERT INTO organizations (slug, name, status) VALUES ('paused', 'Paused', 'suspended')`,
    );
    expect((await sut.active()).map((o) => o.slug)).toEqual(['default']);
  });

  it('serves lookups from its copy for two seconds, then reads the table again', async () => {
    expect(await sut.find('late')).toBeUndefined();
    await database.dataSource.query(`INSERT INTO organizations (slug, name) VALUES ('late', 'L')`);
    clock.advance(1_999);
    expect(await sut.find('late')).toBeUndefined();
    clock.advance(1);
    expect((await sut.find('late'))?.slug).toBe('late');
  });

  it('forget() makes the next lookup read the table', async () => {
    expect(await sut.find('fresh')).toBeUndefined();
    await database.dataSource.query(`INSERT INTO organizations (slug, name) VALUES ('fresh', 'F')`);
    sut.forget();
    expect((await sut.find('fresh'))?.slug).toBe('fresh');
  });

  it("refuses lookups inside an organisation's transaction every time, not only when its copy ran out", async () => {
    const lookups = [() => sut.all(), () => sut.active(), () => sut.find('default')];
    await inOrganization(() =>
      database.host.transaction(async () => {
        // The copy is cold here: a read of the table would be refused...
        for (const lookup of lookups)
          await expect(lookup()).rejects.toThrow(UnscopedInTransactionError);
      }),
    );
    expect((await sut.find('default'))?.id).toBe(DEFAULT_ORGANIZATION.id);
    await inOrganization(() =>
      database.host.transaction(async () => {
        // ...and with a fresh copy, which would need no read, it is refused all the same.
        for (const lookup of lookups)
          await expect(lookup()).rejects.toThrow(UnscopedInTransactionError);
      }),
    );
    // In a scope, outside any transaction, lookups work.
    expect(await inOrganization(() => sut.find('default'))).toMatchObject(DEFAULT_ORGANIZATION);
  });

  it('within() runs work in the organisation scope and restores the outer one after', async () => {
    expect(sut.current()).toBeUndefined();
    const seen = await sut.within({ id: 'x', slug: 'x-org' }, async () => {
      await Promise.resolve();
      return organizationScope.get();
    });
    expect(seen).toEqual({ id: 'x', slug: 'x-org' });
    expect(sut.current()).toBeUndefined();
  });

  describe('resolveForRequest (the org claim of an /api request)', () => {
    const problem = async (work: Promise<unknown>) => {
      const error = (await work.then(
        () => undefined,
        (e: unknown) => e,
      )) as { getStatus(): number; getResponse(): { type: string; message: string } };
      return { status: error.getStatus(), ...error.getResponse() };
    };

    it('a token without org means default while it is the only organisation', async () => {
      expect(await sut.resolveForRequest({})).toMatchObject(DEFAULT_ORGANIZATION);
    });

    it('names an organisation by slug or by id', async () => {
      await database.dataSource.query(
        `INSERT INTO organizations (slug, name) VALUES ('acme', 'A')`,
      );
      const acme = await sut.resolveForRequest({ organization: 'acme' });
      expect(acme.slug).toBe('acme');
      expect((await sut.resolveForRequest({ organization: acme.id })).slug).toBe('acme');
      expect((await sut.resolveForRequest({ organization: 'default' })).id).toBe(
        DEFAULT_ORGANIZATION.id,
      );
    });

    it('refuses an unknown organisation with a 401, by slug or id', async () => {
      for (const organization of ['nobody', '00000000-0000-0000-0000-00000000000f']) {
        expect(await problem(sut.resolveForRequest({ organization }))).toEqual({
          status: 401,
          type: 'urn:showmebug-wecom:problem:unknown-organization',
          message: 'Unknown organisation',
        });
      }
    });

    it('finds an organisation created elsewhere a moment ago without waiting for the copy to expire, reading at most once per 250 ms', async () => {
      expect(await sut.resolveForRequest({ organization: 'default' })).toMatchObject(
        DEFAULT_ORGANIZATION,
      );
      // Created through another instance: this one's copy is a moment old and lacks it.
      await database.dataSource.query(`INSERT INTO organizations (slug, name) VALUES ('new', 'N')`);
      clock.advance(249);
      expect(await problem(sut.resolveForRequest({ organization: 'new' }))).toMatchObject({
        status: 401,
      });
      clock.advance(1);
      expect((await sut.resolveForRequest({ organization: 'new' })).slug).toBe('new');

      // Unknown names read the table once per interval, however many tokens carry them.
      const repo = new OrganizationsRepository(database.host);
      let reads = 0;
      const findAll = repo.findAll.bind(repo);
      repo.findAll = () => (reads++, findAll());
      sut = new OrganizationsService(repo, clock);
      await sut.all();
      clock.advance(250);
      for (let i = 0; i < 5; i++) {
        expect(await problem(sut.resolveForRequest({ organization: 'ghost' }))).toMatchObject({
          status: 401,
        });
      }
      expect(reads).toBe(2);
    });

    it('refuses a token without org once there are several organisations, saying so', async () => {
      await database.dataSource.query(
        `INSERT INTO organizations (slug, name) VALUES ('acme', 'A')`,
      );
      expect(await problem(sut.resolveForRequest({}))).toEqual({
        status: 401,
        type: 'urn:showmebug-wecom:problem:organization-unnamed',
        message: 'This token names no organisation (org claim) and there are several',
      });
      // Naming default still works.
      expect((await sut.resolveForRequest({ organization: 'default' })).slug).toBe('default');
    });

    it('answers 403 for a suspended organisation, naming it, and serves it again once resumed', async () => {
      await database.dataSource.query(
        `INSERT INTO organizations (slug, name, status) VALUES ('paused', 'P', 'suspended')`,
      );
      expect(await problem(sut.resolveForRequest({ organization: 'paused' }))).toEqual({
        status: 403,
        type: 'urn:showmebug-wecom:problem:organization-suspended',
        message: 'Organisation paused is suspended',
      });
      await database.dataSource.query(
        `UPDATE organizations SET status = 'active' WHERE slug = 'paused'`,
      );
      sut.forget();
      expect((await sut.resolveForRequest({ organization: 'paused' })).slug).toBe('paused');
    });
  });

  it('the database refuses a malformed slug, a duplicate slug and an unknown status', async () => {
    // The query logger reports each refused statement; recorded here and asserted, not printed.
    const logs = new LogRecorder();
    Logger.overrideLogger(logs);
    try {
      const insert = (slug: string, status = 'active') =>
        database.dataSource.query(
          `INSERT INTO organizations (slug, name, status) VALUES ($1, 'n', $2)`,
          [slug, status],
        );
      await expect(insert('Upper')).rejects.toThrow(/organizations_slug_check/);
      await expect(insert('-dash')).rejects.toThrow(/organizations_slug_check/);
      await expect(insert('default')).rejects.toThrow(/organizations_slug_uq/);
      await expect(insert('ok-slug', 'deleted')).rejects.toThrow(/organizations_status_check/);
      expect(logs.take('error', /organizations_(slug|status)_/)).toHaveLength(4);
    } finally {
      Logger.overrideLogger(true);
    }
  });
});
