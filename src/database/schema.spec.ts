import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { createTestDatabase, type TestDatabase } from '../../test/support/test-database.js';
import { LogRecorder } from '../../test/support/log-recorder.js';
import { sqlInOrganization } from '../../test/support/organization-sql.js';
import { ENTITIES } from '../entities.js';
import { buildDataSourceOptions } from './database.options.js';
import { runMigrationsLocked } from './migration-runner.js';

describe('Database schema', () => {
  let db: TestDatabase;
  let sut: DataSource;
  const logs = new LogRecorder(['fatal', 'error', 'warn', 'log']);

  beforeAll(async () => {
    Logger.overrideLogger(logs);
    db = await createTestDatabase();
    // As the owner: the schema the migrations made, compared with the entities (a schema check,
    // not the service's view of it).
    sut = await new DataSource(
      buildDataSourceOptions({ url: db.ownerUrl, poolSize: 2, entities: ENTITIES }),
    ).initialize();
    await runMigrationsLocked(sut);
  });

  afterAll(async () => {
    await sut?.destroy();
    await db?.drop();
    Logger.overrideLogger(true);
  });

  it('connects and migrates without a warning (no uuid-ossp extension attempt)', () => {
    expect(logs.lines('warn')).toEqual([]);
    expect(logs.lines('error')).toEqual([]);
  });

  it('the entities match the migrations: migration:generate would have nothing to write', async () => {
    const sql = await sut.driver.createSchemaBuilder().log();
    expect(sql.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('creates no extension the migrations do not: uuids come from gen_random_uuid()', async () => {
    const extensions = await sut.query(`SELECT extname FROM pg_extension ORDER BY extname`);
    expect(extensions.map((e: { extname: string }) => e.extname)).not.toContain('uuid-ossp');
    const [{ id }] = await sqlInOrganization(sut, (m) =>
      m.query(
        `INSERT INTO interviews (title, candidate_name, starts_at, duration_minutes, room_url, created_by)
         VALUES ('t', 'c', now() + interval '1 day', 60, 'https://x.test/r', 'u') RETURNING id`,
      ),
    );
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
