import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';

import {
  createTestDatabase,
  testAppRole,
  type TestDatabase,
} from '../../test/support/test-database.js';
import { LogRecorder } from '../../test/support/log-recorder.js';
import { buildDataSourceOptions } from './database.options.js';
import {
  checkServiceRole,
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
    checkServiceRole(role({}), logger);
    expect(logs.lines('warn')).toEqual([]);
    expect(logs.lines('log')).toEqual([
      '[Database] Database role smbw_app: NOSUPERUSER NOBYPASSRLS, row-level security applies',
    ]);
  });

  it.each([
    ['a superuser', { name: 'postgres', superuser: true, bypassesRowLevelSecurity: true }],
    ['BYPASSRLS', { name: 'smbw_bypass', bypassesRowLevelSecurity: true }],
  ])('warns once, in one line, when the role is %s', (what, attributes) => {
    checkServiceRole(role(attributes), logger);
    const warned = logs.lines('warn');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(`Database role ${attributes.name} is ${what}: `);
    expect(warned[0]).toContain('isolation between organisations is not enforced by the database');
    expect(warned[0]).toContain('NOSUPERUSER NOBYPASSRLS');
    expect(warned[0]).not.toContain('\n');
  });

  it('keeps quiet about the embedded database, whose only user is a superuser', () => {
    checkServiceRole(role({ name: 'postgres', superuser: true, embedded: true }), logger);
    expect(logs.lines('warn')).toEqual([]);
    expect(logs.lines('log')).toEqual([]);
    expect(logs.lines('debug')).toHaveLength(1);
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
