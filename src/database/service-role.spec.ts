import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';

import {
  createTestDatabase,
  testAppRole,
  type TestDatabase,
} from '../../test/support/test-database.js';
import { LogRecorder } from '../../test/support/log-recorder.js';
import { createTestApp } from '../../test/support/test-app.js';
import { StartupError } from '../common/startup-error.js';
import { buildDataSourceOptions } from './database.options.js';
import { runMigrationsOn } from './migration-runner.js';
import {
  checkServiceRole,
  readOrganizationCount,
  readServiceRole,
  rowLevelSecurityApplies,
  type ServiceRole,
} from './service-role.js';

describe(checkServiceRole.name, () => {
  const logs = new LogRecorder(['fatal', 'error', 'warn', 'log', 'debug']);
  const logger = new Logger('Database');
  const role = (attributes: Partial<ServiceRole>): ServiceRole => ({
    name: 'smbw_app',
    superuser: false,
    bypassesRowLevelSecurity: false,
    embedded: false,
    ...attributes,
  });

  beforeAll(() => Logger.overrideLogger(logs));
  afterAll(() => Logger.overrideLogger(true));
  beforeEach(() => logs.entries.splice(0));

  it('says nothing worse than one log line for a NOSUPERUSER NOBYPASSRLS role', () => {
    checkServiceRole(role({}), 1, logger);
    expect(logs.lines('warn')).toEqual([]);
    expect(logs.lines('log')).toEqual([
      '[Database] Database role smbw_app: NOSUPERUSER NOBYPASSRLS, row-level security applies',
    ]);
  });

  it.each([
    ['a superuser', { name: 'postgres', superuser: true, bypassesRowLevelSecurity: true }],
    ['BYPASSRLS', { name: 'smbw_bypass', bypassesRowLevelSecurity: true }],
  ])('warns once, in one line, when the role is %s', (what, attributes) => {
    checkServiceRole(role(attributes), 1, logger);
    const warned = logs.lines('warn');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(`Database role ${attributes.name} is ${what}: `);
    expect(warned[0]).toContain('isolation between organisations is not enforced by the database');
    expect(warned[0]).toContain('NOSUPERUSER NOBYPASSRLS');
    expect(warned[0]).not.toContain('\n');
  });

  it('keeps quiet about the embedded database, whose only user is a superuser', () => {
    checkServiceRole(role({ name: 'postgres', superuser: true, embedded: true }), 1, logger);
    expect(logs.lines('warn')).toEqual([]);
    expect(logs.lines('log')).toEqual([]);
    expect(logs.lines('debug')).toHaveLength(1);
  });

  it('serves any number of organisations as a NOSUPERUSER NOBYPASSRLS role', () => {
    expect(() => checkServiceRole(role({}), 40, logger)).not.toThrow();
    expect(logs.lines('log')).toHaveLength(1);
  });

  it.each([
    ['a superuser', { name: 'postgres', superuser: true, bypassesRowLevelSecurity: true }],
    ['BYPASSRLS', { name: 'smbw_bypass', bypassesRowLevelSecurity: true }],
  ])(
    'refuses to start, in one line, as %s once there are two organisations',
    (what, attributes) => {
      let refused: unknown;
      try {
        checkServiceRole(role(attributes), 2, logger);
      } catch (error) {
        refused = error;
      }
      expect(refused).toBeInstanceOf(StartupError);
      const message = (refused as Error).message;
      expect(message).toContain(`Database role ${attributes.name} is ${what} and 2 organisations`);
      expect(message).toContain('NOSUPERUSER NOBYPASSRLS');
      expect(message).not.toContain('\n');
    },
  );

  it('refuses to serve two organisations from the embedded database', () => {
    expect(() =>
      checkServiceRole(role({ name: 'postgres', superuser: true, embedded: true }), 2, logger),
    ).toThrow(/^The embedded database serves one organisation and this one holds 2: /);
  });

  it('knows that row-level security binds only a role that is neither', () => {
    expect(rowLevelSecurityApplies(role({}))).toBe(true);
    expect(rowLevelSecurityApplies(role({ superuser: true }))).toBe(false);
    expect(rowLevelSecurityApplies(role({ bypassesRowLevelSecurity: true }))).toBe(false);
  });
});

describe(readServiceRole.name, () => {
  let db: TestDatabase;
  let asService: DataSource;
  let asOwner: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase();
    asService = await new DataSource(
      buildDataSourceOptions({ url: db.url, poolSize: 1 }),
    ).initialize();
    asOwner = await new DataSource(
      buildDataSourceOptions({ url: db.ownerUrl, poolSize: 1 }),
    ).initialize();
  });

  afterAll(async () => {
    await asService?.destroy();
    await asOwner?.destroy();
    await db?.drop();
  });

  it('reads the attributes of the role it is connected as, from the server', async () => {
    const expected: ServiceRole = testAppRole
      ? { name: testAppRole, superuser: false, bypassesRowLevelSecurity: false, embedded: false }
      : {
          name: new URL(db.url).username,
          superuser: true,
          bypassesRowLevelSecurity: true,
          embedded: db.engine === 'pglite',
        };
    expect(await readServiceRole(asService)).toEqual(expected);
  });

  it('sees the owner (postgres in CI, and PGlite’s only user) as a superuser', async () => {
    expect(await readServiceRole(asOwner)).toMatchObject({ superuser: true });
  });
});

describe('the start-up role check, in the service', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await runMigrationsOn(db.ownerUrl, { log: () => undefined } as unknown as Logger);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('counts the organisations (default only, after the migrations)', async () => {
    const owner = await new DataSource(
      buildDataSourceOptions({ url: db.ownerUrl, poolSize: 1 }),
    ).initialize();
    try {
      expect(await readOrganizationCount(owner)).toBe(1);
    } finally {
      await owner.destroy();
    }
  });

  it('starts as a superuser with one organisation, and refuses to with two', async () => {
    // The owner (postgres on a server, PGlite's only user): a superuser either way.
    const asOwner = { DATABASE_URL: db.ownerUrl };
    const quiet = new LogRecorder(['fatal', 'error']);
    const app = await createTestApp(asOwner, { logger: quiet });
    await app.close();

    await db.ownerQuery(`INSERT INTO organizations (slug, name) VALUES ('second', 'Second')`);
    await expect(createTestApp(asOwner, { logger: quiet })).rejects.toThrow(
      db.engine === 'pglite'
        ? /^The embedded database serves one organisation and this one holds 2: /
        : /^Database role \w+ is a superuser and 2 organisations exist: /,
    );
  });
});
