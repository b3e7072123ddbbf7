import type { INestApplication } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { createTestApp } from '../test/support/test-app.js';
import { createTestDatabase, type TestDatabase } from '../test/support/test-database.js';
import { ENTITIES } from './entities.js';

describe('Entities', () => {
  let db: TestDatabase;
  let app: INestApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await createTestApp(db.env);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('the modules register exactly the entities the CLI and the schema spec know', () => {
    const loaded = app.get<DataSource>(getDataSourceToken()).entityMetadatas.map((m) => m.target);
    const name = (target: unknown) => (target as { name: string }).name;
    expect(loaded.map(name).sort()).toEqual(ENTITIES.map(name).sort());
  });
});
