import type { INestApplication } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import request from 'supertest';

import { OrganizationChangedEvent } from '../src/organizations/organization-events.js';
import { DEFAULT_ORGANIZATION } from '../src/organizations/organization.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { createTestApp, simulatorEnv, tokenFor, tokenIn } from './support/test-app.js';
import {
  createTestDatabase,
  describeWithAppRole,
  testAppRole,
  type TestDatabase,
} from './support/test-database.js';

const PROBLEM = 'urn:showmebug-wecom:problem:';

/** An app on its own database and simulator, with the organisation events it published. */
async function start(): Promise<{
  db: TestDatabase;
  sim: WeComSimulator;
  app: INestApplication;
  changes: OrganizationChangedEvent[];
}> {
  const db = await createTestDatabase();
  const sim = new WeComSimulator();
  await sim.start();
  const app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) });
  const changes: OrganizationChangedEvent[] = [];
  app
    .get(EventEmitter2)
    .on(OrganizationChangedEvent.key, (e: OrganizationChangedEvent) => changes.push(e));
  return { db, sim, app, changes };
}

describe('Organisations: operators and the org claim, with the one organisation (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  let changes: OrganizationChangedEvent[];
  let operator: string;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    ({ db, sim, app, changes } = await start());
    operator = await tokenFor('platform-op', 'operator');
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('a token without org works in default while it is the only organisation; naming it works too', async () => {
    await http()
      .get('/api/admin/config')
      .auth(await tokenFor('a1', 'admin'), { type: 'bearer' })
      .expect(200);
    for (const org of ['default', DEFAULT_ORGANIZATION.id]) {
      await http()
        .get('/api/admin/config')
        .auth(await tokenIn(org, 'a1', 'admin'), { type: 'bearer' })
        .expect(200);
    }
  });

  it('a token naming an unknown organisation is a 401 problem on every kind of /api route', async () => {
    const token = await tokenIn('nobody', 'a1', 'admin', 'recruiter', 'interviewer');
    for (const path of ['/api/me', '/api/admin/config', '/api/interviews', '/api/messages']) {
      const res = await http().get(path).auth(token, { type: 'bearer' }).expect(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({
        type: `${PROBLEM}unknown-organization`,
        status: 401,
        detail: 'Unknown organisation',
      });
    }
  });

  it('lists and shows the organisations to an operator, by id or slug', async () => {
    const list = await http()
      .get('/api/organizations')
      .auth(operator, { type: 'bearer' })
      .expect(200);
    expect(list.body).toEqual({
      items: [
        expect.objectContaining({ ...DEFAULT_ORGANIZATION, name: 'Default', status: 'active' }),
      ],
      nextCursor: null,
    });
    for (const name of ['default', DEFAULT_ORGANIZATION.id]) {
      const one = await http()
        .get(`/api/organizations/${name}`)
        .auth(operator, { type: 'bearer' })
        .expect(200);
      expect(one.body).toEqual(list.body.items[0]);
    }
    const missing = await http()
      .get('/api/organizations/nobody')
      .auth(operator, { type: 'bearer' })
      .expect(404);
    expect(missing.body.detail).toBe('Organisation not found');
    const malformed = await http()
      .get('/api/organizations/Not_A_Slug')
      .auth(operator, { type: 'bearer' })
      .expect(400);
    expect(malformed.body.errors).toEqual([
      { field: 'id', message: 'id must be an organisation id (UUID) or slug' },
    ]);
  });

  it('refuses a second organisation where the database cannot keep it apart (superuser, PGlite), saying why', async () => {
    if (testAppRole) return; // under the restricted role creation is allowed: the spec below
    const res = await http()
      .post('/api/organizations')
      .auth(operator, { type: 'bearer' })
      .send({ slug: 'acme', name: 'Acme Ltd' })
      .expect(409);
    expect(res.body).toMatchObject({ type: `${PROBLEM}organizations-not-isolated`, status: 409 });
    expect(res.body.detail).toMatch(/NOSUPERUSER NOBYPASSRLS/);
    expect(await db.ownerQuery(`SELECT slug FROM organizations`)).toEqual([{ slug: 'default' }]);
    expect(changes).toEqual([]);
  });

  it('validates what an operator sends: 400 with the field named, nothing stored', async () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ slug: 'Acme', name: 'A' }, 'slug'],
      [{ slug: '-acme', name: 'A' }, 'slug'],
      [{ slug: 'a', name: 'A' }, 'slug'],
      [{ slug: 'acme', name: '' }, 'name'],
      [{ slug: 'acme', name: '   ' }, 'name'],
      [{ slug: 'acme', name: 'x'.repeat(201) }, 'name'],
      [{ slug: 'acme', name: 'tab\tname' }, 'name'],
      [{ slug: 42, name: 'A' }, 'slug'],
      [{ slug: 'acme', name: 'A', status: 'suspended' }, 'status'],
    ];
    for (const [body, field] of bad) {
      const res = await http()
        .post('/api/organizations')
        .auth(operator, { type: 'bearer' })
        .send(body)
        .expect(400);
      expect(res.body.type).toBe(`${PROBLEM}validation`);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    const patch = await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .send({ status: 'deleted' })
      .expect(400);
    expect(patch.body.errors).toEqual([
      { field: 'status', message: 'status must be one of: active, suspended' },
    ]);
    expect(await db.ownerQuery(`SELECT slug, name, status FROM organizations`)).toEqual([
      { slug: 'default', name: 'Default', status: 'active' },
    ]);
  });

  it("sets an organisation's console admins: WeCom userids once each, case aside, shown on GET", async () => {
    const res = await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .send({ consoleAdmins: ['ZhangSan', 'lisi', 'zhangsan', 'LISI', 'wang.wu@x'] })
      .expect(200);
    expect(res.body.consoleAdmins).toEqual(['ZhangSan', 'lisi', 'wang.wu@x']);
    const shown = await http()
      .get('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .expect(200);
    expect(shown.body.consoleAdmins).toEqual(['ZhangSan', 'lisi', 'wang.wu@x']);
    expect(
      await db.ownerQuery(`SELECT console_admins FROM organizations WHERE slug = 'default'`),
    ).toEqual([{ console_admins: ['ZhangSan', 'lisi', 'wang.wu@x'] }]);
    // Leaving it out changes nothing; an empty list empties it.
    await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .send({ name: 'Default' })
      .expect(200)
      .expect((r) => expect(r.body.consoleAdmins).toEqual(['ZhangSan', 'lisi', 'wang.wu@x']));
    await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .send({ consoleAdmins: [] })
      .expect(200)
      .expect((r) => expect(r.body.consoleAdmins).toEqual([]));
  });

  it('refuses console admins that are no WeCom userids, or too many: 400 naming the field, nothing stored', async () => {
    const before = await db.ownerQuery(`SELECT console_admins, version FROM organizations`);
    const hundredAndOne = Array.from({ length: 101 }, (_, i) => `user${i}`);
    for (const consoleAdmins of [
      'zhangsan',
      [42],
      [''],
      ['has space'],
      ['@all'],
      ['x'.repeat(65)],
      ['张三'],
      hundredAndOne,
    ]) {
      const res = await http()
        .patch('/api/organizations/default')
        .auth(operator, { type: 'bearer' })
        .send({ consoleAdmins })
        .expect(400);
      expect(res.body.type).toBe(`${PROBLEM}validation`);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain('consoleAdmins');
    }
    expect(await db.ownerQuery(`SELECT console_admins, version FROM organizations`)).toEqual(
      before,
    );
    // A hundred is allowed (and the same rules hold on POST, tried where it may create).
    await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .send({ consoleAdmins: hundredAndOne.slice(0, 100) })
      .expect(200);
    await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .send({ consoleAdmins: (before[0] as { console_admins: string[] }).console_admins })
      .expect(200);
  });

  it('GET carries an ETag; PATCH with a stale If-Match is a 412 that changes nothing, a current one applies', async () => {
    const got = await http()
      .get('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .expect(200);
    const etag = got.headers.etag as string;
    expect(etag).toBe(`"${got.body.version as number}"`);

    // Another operator changes it in between.
    const other = await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .set('If-Match', etag)
      .send({ name: 'Renamed by the other' })
      .expect(200);
    expect(other.headers.etag).toBe(`"${(got.body.version as number) + 1}"`);

    const stale = await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .set('If-Match', etag)
      .send({ name: 'Mine', consoleAdmins: ['mine'] })
      .expect(412);
    expect(stale.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(stale.body).toMatchObject({
      type: `${PROBLEM}precondition-failed`,
      version: (got.body.version as number) + 1,
    });
    const [row] = await db.ownerQuery<{ name: string; console_admins: string[] }>(
      `SELECT name, console_admins FROM organizations WHERE slug = 'default'`,
    );
    expect(row).toEqual({ name: 'Renamed by the other', console_admins: got.body.consoleAdmins });

    const malformed = await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .set('If-Match', 'yesterday')
      .send({ name: 'Mine' })
      .expect(400);
    expect(malformed.body.errors).toEqual([
      { field: 'If-Match', message: 'If-Match must be the organisation version, e.g. "3"' },
    ]);

    await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .set('If-Match', other.headers.etag as string)
      .send({ name: 'Default' })
      .expect(200);
  });

  it('tells a token holder which organisation it works in (GET /api/me), whatever the role', async () => {
    for (const caller of [await tokenFor('a1', 'admin'), await tokenFor('i1', 'interviewer')]) {
      const res = await http().get('/api/me').auth(caller, { type: 'bearer' }).expect(200);
      expect(res.body.organization).toEqual({ ...DEFAULT_ORGANIZATION, name: 'Default' });
    }
    // Operators work in none: /api/me is inside organisations, like every other /api route.
    await http().get('/api/me').auth(operator, { type: 'bearer' }).expect(403);
  });

  it('renames, suspends and resumes: a suspended organisation answers its users 403, resumed it serves them again', async () => {
    const admin = await tokenFor('a1', 'admin');
    const before = changes.length;
    const renamed = await http()
      .patch(`/api/organizations/${DEFAULT_ORGANIZATION.id}`)
      .auth(operator, { type: 'bearer' })
      .send({ name: 'Our company' })
      .expect(200);
    expect(renamed.body).toMatchObject({ slug: 'default', name: 'Our company', status: 'active' });

    await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .send({ status: 'suspended' })
      .expect(200);
    const refused = await http().get('/api/me').auth(admin, { type: 'bearer' }).expect(403);
    expect(refused.body).toMatchObject({
      type: `${PROBLEM}organization-suspended`,
      detail: 'Organisation default is suspended',
    });
    // Public routes take no organisation from a token: health still answers.
    await http().get('/health').expect(200);

    const resumed = await http()
      .patch('/api/organizations/default')
      .auth(operator, { type: 'bearer' })
      .send({ status: 'active' })
      .expect(200);
    expect(resumed.body.status).toBe('active');
    await http().get('/api/me').auth(admin, { type: 'bearer' }).expect(200);

    expect(
      changes.slice(before).map((e) => [e.previous?.status, e.next.status, e.next.name, e.resumed]),
    ).toEqual([
      ['active', 'active', 'Our company', false],
      ['active', 'suspended', 'Our company', false],
      ['suspended', 'active', 'Our company', true],
    ]);
    const [row] = await db.ownerQuery<{ name: string; status: string; later: boolean }>(
      `SELECT name, status, updated_at > created_at AS later FROM organizations`,
    );
    expect(row).toEqual({ name: 'Our company', status: 'active', later: true });
  });

  it('keeps the roles apart: operators get 403 inside an organisation, its people 403 on /api/organizations', async () => {
    for (const path of ['/api/me', '/api/interviews', '/api/admin/config']) {
      const res = await http().get(path).auth(operator, { type: 'bearer' }).expect(403);
      expect(res.body.detail).toMatch(
        /^(Operators manage organisations|Requires one of the roles)/,
      );
    }
    // An operator naming an organisation is still no member of it.
    await http()
      .get('/api/me')
      .auth(await tokenIn('default', 'platform-op', 'operator'), { type: 'bearer' })
      .expect(403);
    for (const role of ['admin', 'recruiter', 'interviewer'] as const) {
      const token = await tokenFor(`u-${role}`, role);
      const res = await http()
        .get('/api/organizations')
        .auth(token, { type: 'bearer' })
        .expect(403);
      expect(res.body.detail).toBe('Requires one of the roles: operator');
      await http()
        .patch('/api/organizations/default')
        .auth(token, { type: 'bearer' })
        .send({ status: 'suspended' })
        .expect(403);
    }
    expect(await db.ownerQuery(`SELECT status FROM organizations`)).toEqual([{ status: 'active' }]);
  });
});

describeWithAppRole('Organisations: several, under the restricted role (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  let changes: OrganizationChangedEvent[];
  let operator: string;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    ({ db, sim, app, changes } = await start());
    operator = await tokenFor('platform-op', 'operator');
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('an operator creates an organisation (201), a taken slug is a 409 and changes nothing', async () => {
    const res = await http()
      .post('/api/organizations')
      .auth(operator, { type: 'bearer' })
      .send({ slug: 'acme', name: 'Acme Ltd' })
      .expect(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      slug: 'acme',
      name: 'Acme Ltd',
      status: 'active',
      consoleAdmins: [],
      version: 1,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(res.headers.etag).toBe('"1"');
    expect(changes.map((e) => [e.previous, e.next.slug])).toEqual([[undefined, 'acme']]);
    for (const slug of ['acme', 'default']) {
      const taken = await http()
        .post('/api/organizations')
        .auth(operator, { type: 'bearer' })
        .send({ slug, name: 'Another' })
        .expect(409);
      expect(taken.body.detail).toBe(`An organisation with slug ${slug} exists`);
    }
    expect(
      await db.ownerQuery(`SELECT slug, name FROM organizations ORDER BY created_at, slug`),
    ).toEqual([
      { slug: 'default', name: 'Default' },
      { slug: 'acme', name: 'Acme Ltd' },
    ]);
  });

  it('creates an organisation with its console admins, once each case aside; refuses bad ones', async () => {
    const res = await http()
      .post('/api/organizations')
      .auth(operator, { type: 'bearer' })
      .send({ slug: 'initech', name: 'Initech', consoleAdmins: ['Peter', 'peter', 'milton'] })
      .expect(201);
    expect(res.body).toMatchObject({ consoleAdmins: ['Peter', 'milton'], version: 1 });
    const bad = await http()
      .post('/api/organizations')
      .auth(operator, { type: 'bearer' })
      .send({ slug: 'hooli', name: 'Hooli', consoleAdmins: ['gavin belson'] })
      .expect(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(['consoleAdmins']);
    expect(await db.ownerQuery(`SELECT slug FROM organizations WHERE slug = 'hooli'`)).toEqual([]);
    const me = await http()
      .get('/api/me')
      .auth(await tokenIn('initech', 'p1', 'admin'), { type: 'bearer' })
      .expect(200);
    expect(me.body.organization).toEqual({ id: res.body.id, slug: 'initech', name: 'Initech' });
  });

  it('with two organisations a token without org is a 401 that says so; naming either works', async () => {
    const unnamed = await http()
      .get('/api/me')
      .auth(await tokenFor('a1', 'admin'), { type: 'bearer' })
      .expect(401);
    expect(unnamed.body).toMatchObject({
      type: `${PROBLEM}organization-unnamed`,
      detail: 'This token names no organisation (org claim) and there are several',
    });
    for (const org of ['acme', 'default']) {
      await http()
        .get('/api/admin/config')
        .auth(await tokenIn(org, 'a1', 'admin'), { type: 'bearer' })
        .expect(200);
    }
    // Operators name no organisation and still reach theirs.
    await http().get('/api/organizations').auth(operator, { type: 'bearer' }).expect(200);
  });

  it('pages the list newest first and filters by status', async () => {
    await http()
      .post('/api/organizations')
      .auth(operator, { type: 'bearer' })
      .send({ slug: 'globex', name: 'Globex' })
      .expect(201);
    await http()
      .patch('/api/organizations/globex')
      .auth(operator, { type: 'bearer' })
      .send({ status: 'suspended' })
      .expect(200);
    const first = await http()
      .get('/api/organizations?limit=2')
      .auth(operator, { type: 'bearer' })
      .expect(200);
    expect(first.body.items.map((o: { slug: string }) => o.slug)).toEqual(['globex', 'initech']);
    const second = await http()
      .get(`/api/organizations?limit=2&cursor=${first.body.nextCursor as string}`)
      .auth(operator, { type: 'bearer' })
      .expect(200);
    expect(second.body).toEqual({
      items: [
        expect.objectContaining({ slug: 'acme' }),
        expect.objectContaining({ slug: 'default' }),
      ],
      nextCursor: null,
    });
    const suspended = await http()
      .get('/api/organizations?status=suspended')
      .auth(operator, { type: 'bearer' })
      .expect(200);
    expect(suspended.body.items.map((o: { slug: string }) => o.slug)).toEqual(['globex']);

    // Globex's people are refused, acme's and default's are not.
    const res = await http()
      .get('/api/me')
      .auth(await tokenIn('globex', 'g1', 'recruiter'), { type: 'bearer' })
      .expect(403);
    expect(res.body.detail).toBe('Organisation globex is suspended');
    const acme = await http()
      .get('/api/me')
      .auth(await tokenIn('acme', 'a1', 'recruiter'), { type: 'bearer' })
      .expect(200);
    // Whoever holds the token learns which organisation it works in, by slug and name.
    expect(acme.body.organization).toMatchObject({ slug: 'acme', name: expect.any(String) });
    expect(acme.body.organization.id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
