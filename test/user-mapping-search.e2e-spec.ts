import type { INestApplication } from '@nestjs/common';
import pg from 'pg';
import request from 'supertest';

import { DEFAULT_ORGANIZATION } from '../src/organizations/organization.js';
import { MAPPING_SEARCH } from '../src/user-mappings/user-mappings.repository.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { createTestApp, mapPeople, simulatorEnv, tokenFor, tokenIn } from './support/test-app.js';
import {
  createTestDatabase,
  describeWithAppRole,
  type TestDatabase,
} from './support/test-database.js';

const PROBLEM = 'urn:showmebug-wecom:problem:';

/** platform user id → WeCom userid, the mappings searched. */
const PEOPLE: [string, string][] = [
  ['ZH-100', 'lisi'], // platform id starts with "zh", case aside
  ['u-2', 'ZhangSan'], // WeCom userid does
  ['u-3', 'wangwu'],
  ['u-4', 'a_zh'], // "zh" inside, not at the start
  ['u_5', 'u5x'], // "_" is a character here, not a wildcard
];

describe('People search: GET /api/user-mappings?q= (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  let admin: string;
  const http = () => request(app.getHttpServer());
  const search = (query: Record<string, string | number>) =>
    http().get('/api/user-mappings').query(query).auth(admin, { type: 'bearer' });
  const platformIds = (res: request.Response) =>
    (res.body.items as { platformUserId: string }[]).map((m) => m.platformUserId);

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
    sim.addUsers(PEOPLE.map(([, userid]) => ({ userid, name: userid })));
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) });
    admin = await tokenFor('admin-1', 'admin');
    await mapPeople(app, admin, PEOPLE);
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('finds the mappings whose platform user id or WeCom userid starts with the term, case aside, newest first', async () => {
    for (const q of ['zh', 'ZH', 'Zh']) {
      const res = await search({ q }).expect(200);
      expect(platformIds(res)).toEqual(['u-2', 'ZH-100']);
    }
    expect(platformIds(await search({ q: 'zhangs' }).expect(200))).toEqual(['u-2']);
    expect(platformIds(await search({ q: 'u-' }).expect(200))).toEqual(['u-4', 'u-3', 'u-2']);
    expect(platformIds(await search({ q: 'u_' }).expect(200))).toEqual(['u_5']);
    expect(platformIds(await search({ q: 'nobody' }).expect(200))).toEqual([]);
  });

  it('pages the results as the list does, each page still searched', async () => {
    const first = await search({ q: 'zh', limit: 1 }).expect(200);
    expect(platformIds(first)).toEqual(['u-2']);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await search({ q: 'zh', limit: 1, cursor: first.body.nextCursor }).expect(200);
    expect(platformIds(second)).toEqual(['ZH-100']);
    expect(second.body.nextCursor).toBeNull();
  });

  it('refuses a term that no id could start with: 400 naming q', async () => {
    for (const q of ['zh%', 'a b', '张', 'x'.repeat(129), '']) {
      const res = await search({ q }).expect(400);
      expect(res.body.type).toBe(`${PROBLEM}validation`);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['q']);
    }
  });
});

describeWithAppRole('People search under row-level security (e2e, restricted role)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) });
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('reaches the prefix indexes as the service role, whose conditions come after the policy', async () => {
    // Enough of the organisation's people that reading them all costs more than the prefix
    // ranges; a sequential scan priced out besides.
    await db.ownerQuery(
      `INSERT INTO user_mappings (organization_id, corp_id, platform_user_id, wecom_user_id, source)
       SELECT $1, 'ww-sandbox', 'p-' || i, 'w' || i, 'admin' FROM generate_series(1, 5000) AS i`,
      [DEFAULT_ORGANIZATION.id],
    );
    await db.ownerQuery('ANALYZE user_mappings');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT set_config('app.organization_id', $1, true)`, [
        DEFAULT_ORGANIZATION.id,
      ]);
      await client.query('SET LOCAL enable_seqscan = off');
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT m.id FROM user_mappings m
          WHERE m.corp_id = $1 AND ${MAPPING_SEARCH.replaceAll(':q', '$2')}`,
        ['ww-sandbox', 'zh'],
      );
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      // Each prefix is a range in its index's condition, not a filter over the organisation.
      expect(plan).toMatch(
        /Index Scan on user_mappings_platform_prefix_idx .*\n\s+Index Cond: \(.*platform_user_id_lower ~>=~ 'zh'/,
      );
      expect(plan).toMatch(
        /Index Scan on user_mappings_wecom_prefix_idx .*\n\s+Index Cond: \(.*wecom_user_id_lower ~>=~ 'zh'/,
      );
      expect(plan).not.toContain('Seq Scan');
    } finally {
      await client.query('ROLLBACK');
      await client.end();
    }
  });

  it("finds nothing of another organisation's, with the same ids in both", async () => {
    const operator = await tokenFor('op', 'operator');
    await http()
      .post('/api/organizations')
      .auth(operator, { type: 'bearer' })
      .send({ slug: 'other', name: 'Other' })
      .expect(201);
    const [{ id: other }] = await db.ownerQuery<{ id: string }>(
      `SELECT id FROM organizations WHERE slug = 'other'`,
    );
    await db.ownerQuery(
      `INSERT INTO user_mappings (organization_id, corp_id, platform_user_id, wecom_user_id, source)
       VALUES ($1, 'ww-sandbox', 'zh-other', 'zhangsan', 'admin')`,
      [other],
    );
    const res = await http()
      .get('/api/user-mappings')
      .query({ q: 'zh' })
      .auth(await tokenIn('default', 'admin-1', 'admin'), { type: 'bearer' })
      .expect(200);
    expect(res.body.items).toEqual([]);
  });
});
