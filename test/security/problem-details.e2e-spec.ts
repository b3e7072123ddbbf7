import { randomUUID } from 'node:crypto';

import { type INestApplication, RequestMethod, type Type } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { ModulesContainer } from '@nestjs/core';
import { getMetadataStorage } from 'class-validator';
import request from 'supertest';

import { ROLES } from '../../src/auth/roles.js';
import { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { createTestApp, simulatorEnv, tokenFor } from '../support/test-app.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import {
  concretePath,
  controllerRoutes,
  routeKey,
  type ControllerRoute,
} from './route-inventory.js';

/**
 * Routes that are not JSON APIs, with why their errors are not checked here. Everything else
 * the router serves gets bad requests below; a new route is walked without being listed.
 */
const NOT_JSON_API: [RegExp, string][] = [
  [/^GET \/auth\/wecom\/(login|callback)$/, 'opened by a browser: errors are an HTML page'],
  [/^GET \/health$/, 'takes no input; its 503 body is the health report, not an error'],
];

const PROBLEM_TYPES = /^(about:blank|urn:showmebug-wecom:problem:[a-z-]+)$/;
const BASE_MEMBERS = ['detail', 'requestId', 'status', 'title', 'type'];
/** What must never be in an error body: a stack frame, SQL, a credential. */
const LEAKS =
  /\n\s+at |\bat .+\.[jt]s:\d+|SELECT |INSERT |UPDATE .+ SET|relation "|Bearer [\w.-]{8,}|eyJ[\w-]+\.|secret-for-specs|sandbox-secret|metrics-token-0123/i;

/** @Body() and @Query() parameters typed with a class that class-validator knows. */
const BODY = 3;
const QUERY = 4;

type Res = request.Response;

/** The body is problem details and nothing else: the members, their types, no internals. */
function expectProblem(res: Res, extra: string[] = []): void {
  expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  const body = res.body as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual([...BASE_MEMBERS, ...extra].sort());
  expect(body.type).toMatch(PROBLEM_TYPES);
  expect(body.title).toEqual(expect.stringMatching(/\S/));
  expect(body.status).toBe(res.status);
  expect(body.detail).toEqual(expect.stringMatching(/\S/));
  expect(body.requestId).toBe(res.headers['x-request-id']);
  expect(res.text).not.toMatch(LEAKS);
}

function expectValidationProblem(res: Res): void {
  expect(res.status).toBe(400);
  expectProblem(res, ['errors']);
  expect(res.body.type).toBe('urn:showmebug-wecom:problem:validation');
  const errors = res.body.errors as Record<string, unknown>[];
  expect(errors.length).toBeGreaterThan(0);
  for (const e of errors) {
    expect(Object.keys(e).sort()).toEqual(['field', 'message']);
    expect(typeof e.field).toBe('string');
    expect(e.message).toEqual(expect.stringMatching(/\S/));
  }
  const seen = errors.map((e) => `${e.field as string}|${e.message as string}`);
  expect(new Set(seen).size).toBe(seen.length);
}

describe('Every error is problem details (walks the router)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  let routes: ControllerRoute[];
  let token: string;

  const http = () => request(app.getHttpServer());
  const open = (r: ControllerRoute, path = concretePath(r.path, randomUUID())) =>
    http()[r.method.toLowerCase() as 'get'](path);
  const takesBody = (r: ControllerRoute) => ['POST', 'PUT', 'PATCH'].includes(r.method);
  const skipped = (r: ControllerRoute) => NOT_JSON_API.find(([re]) => re.test(routeKey(r)));

  /** The classes of a handler's @Body() / @Query() parameters that carry validation rules. */
  function dtoParams(r: ControllerRoute): { body: boolean; query: boolean } {
    const controller = controllers().get(r.controller)!;
    const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, r.handler) ?? {}) as Record<
      string,
      { index: number; data?: unknown }
    >;
    const types = (Reflect.getMetadata('design:paramtypes', controller.prototype, r.handler) ??
      []) as unknown[];
    const validated = (kind: number) =>
      Object.entries(args).some(([key, arg]) => {
        const type = types[arg.index];
        return (
          key.startsWith(`${kind}:`) &&
          arg.data === undefined &&
          typeof type === 'function' &&
          getMetadataStorage().getTargetValidationMetadatas(type, '', false, false).length > 0
        );
      });
    return { body: validated(BODY), query: validated(QUERY) };
  }

  let byName: Map<string, Type<unknown>> | undefined;
  function controllers(): Map<string, Type<unknown>> {
    if (!byName) {
      byName = new Map();
      for (const module of app.get(ModulesContainer).values()) {
        for (const wrapper of module.controllers.values()) {
          const type = wrapper.metatype as Type<unknown> | undefined;
          if (type) byName.set(type.name, type);
        }
      }
    }
    return byName;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
    app = await createTestApp({
      ...db.env,
      ...simulatorEnv(sim.url),
      METRICS_TOKEN: 'metrics-token-0123456789',
      THROTTLE_LIMIT: '100000',
    });
    routes = controllerRoutes(app);
    token = await tokenFor('u-walker', ...ROLES);
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('walks a route table of the expected size, every route either checked or skipped for a reason', () => {
    expect(routes.length).toBeGreaterThanOrEqual(20);
    const methods = new Set(routes.map((r) => r.method));
    for (const m of methods) expect(Object.keys(RequestMethod)).toContain(m);
    for (const [re] of NOT_JSON_API) expect(routes.some((r) => re.test(routeKey(r)))).toBe(true);
  });

  it('answers a bad or missing credential on every protected route with a 401 problem', async () => {
    const checked: string[] = [];
    for (const r of routes.filter((r) => !r.isPublic || r.path === '/metrics')) {
      if (skipped(r)) continue;
      let req = open(r).set('authorization', 'Bearer not-a-jwt');
      if (takesBody(r)) req = req.send({});
      const res = await req;
      expect({ route: routeKey(r), status: res.status }).toEqual({
        route: routeKey(r),
        status: 401,
      });
      expectProblem(res);
      checked.push(routeKey(r));
    }
    expect(checked.length).toBeGreaterThanOrEqual(15);
  });

  it('answers an unknown field in a body or query DTO with a validation problem', async () => {
    const checked: string[] = [];
    for (const r of routes) {
      if (skipped(r)) continue;
      const { body, query } = dtoParams(r);
      if (!body && !query) continue;
      let req = open(r).set('authorization', `Bearer ${token}`);
      if (query) req = req.query({ notAField: '1' });
      if (takesBody(r)) req = req.send(body ? { notAField: 1 } : {});
      const res = await req;
      expect({ route: routeKey(r), status: res.status }).toEqual({
        route: routeKey(r),
        status: 400,
      });
      expectValidationProblem(res);
      expect(res.body.errors).toContainEqual({
        field: 'notAField',
        message: 'notAField is not a field of this request',
      });
      checked.push(routeKey(r));
    }
    // Messages, interviews (create, update, cancel, rsvp, list), mappings, admin config, audit.
    expect(checked.length).toBeGreaterThanOrEqual(10);
  });

  it('answers a path id that is no UUID with a validation problem that names the parameter', async () => {
    const checked: string[] = [];
    for (const r of routes.filter((r) => r.path.includes('/:id'))) {
      if (skipped(r)) continue;
      // Organisations are named by id or slug, so `not-a-uuid` would be a (missing) slug there.
      const byRef = r.controller === 'OrganizationsController';
      let req = open(r, concretePath(r.path, byRef ? 'not_a_uuid' : 'not-a-uuid')).set(
        'authorization',
        `Bearer ${token}`,
      );
      if (takesBody(r)) req = req.send({});
      const res = await req;
      expect({ route: routeKey(r), status: res.status }).toEqual({
        route: routeKey(r),
        status: 400,
      });
      expectValidationProblem(res);
      expect(res.body.errors).toEqual([
        {
          field: 'id',
          message: byRef ? 'id must be an organisation id (UUID) or slug' : 'id must be a UUID',
        },
      ]);
      checked.push(routeKey(r));
    }
    // Interviews (get, update, cancel, rsvp, messages), messages (get, retry, recall), mappings.
    expect(checked.length).toBeGreaterThanOrEqual(8);
  });

  it('answers a wrongly typed field with one entry naming the expected type', async () => {
    const res = await http()
      .get('/api/messages')
      .query({ limit: 'many' })
      .set('authorization', `Bearer ${token}`);
    expectValidationProblem(res);
    expect(res.body.errors).toEqual([
      { field: 'limit', message: 'limit must be an integer between 1 and 200' },
    ]);
    const config = await http()
      .patch('/api/admin/config')
      .set('authorization', `Bearer ${token}`)
      .send({ reminderLeadTimesMin: '15', quietHours: { start: '7am', end: '08:00' } });
    expectValidationProblem(config);
    expect(config.body.errors).toEqual([
      {
        field: 'reminderLeadTimesMin',
        message: 'reminderLeadTimesMin must be an array of integers',
      },
      { field: 'quietHours.start', message: 'quietHours.start must be HH:MM (00:00 to 23:59)' },
    ]);
    expect(config.body.detail).toBe('2 fields are invalid: reminderLeadTimesMin, quietHours.start');
  });

  it.each([
    ['text/plain', 'hello'],
    ['application/x-www-form-urlencoded', 'title=x&durationMinutes=60'],
    [
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
    ],
    ['application/xml', '<xml/>'],
  ])(
    'answers a %s body on every JSON route with a 415 naming application/json',
    async (type, text) => {
      const checked: string[] = [];
      for (const r of routes.filter((r) => takesBody(r) && r.path.startsWith('/api/'))) {
        const res = await open(r)
          .set('authorization', `Bearer ${token}`)
          .set('content-type', type)
          .send(text);
        expect({ route: routeKey(r), status: res.status }).toEqual({
          route: routeKey(r),
          status: 415,
        });
        expectProblem(res);
        expect(res.body.type).toBe('urn:showmebug-wecom:problem:unsupported-media-type');
        expect(res.body.detail).toContain('application/json');
        const accept = r.method === 'PATCH' ? 'accept-patch' : 'accept-post';
        if (r.method !== 'PUT') expect(res.headers[accept]).toBe('application/json');
        checked.push(routeKey(r));
      }
      expect(checked.length).toBeGreaterThanOrEqual(8);
    },
  );

  it('answers JSON in a charset other than UTF-8 with a 415, and takes it with charset=utf-8', async () => {
    const server = app.getHttpServer();
    const body = '{"platformUserId":"u-charset","wecomUserId":"zhangsan"}';
    const latin1 = await request(server)
      .post('/api/user-mappings')
      .set('authorization', `Bearer ${token}`)
      .set('content-type', 'application/json; charset=latin1')
      .send(body);
    expect(latin1.status).toBe(415);
    expectProblem(latin1);
    expect(latin1.body.detail).toContain('UTF-8 only, not in charset latin1');
    const utf8 = await request(server)
      .post('/api/user-mappings')
      .set('authorization', `Bearer ${token}`)
      .set('content-type', 'application/json; charset=UTF-8')
      .send(body);
    expect(utf8.status).not.toBe(415);
    expect(utf8.status).toBeLessThan(500);
  });

  it('answers a body with no declared type with a 415, and a POST without a body as usual', async () => {
    const server = app.getHttpServer();
    const noType = await request(server)
      .post('/api/user-mappings')
      .set('authorization', `Bearer ${token}`)
      .send(Buffer.from('{"platformUserId":"u1","wecomUserId":"zhangsan"}'))
      .unset('content-type');
    expect(noType.status).toBe(415);
    expectProblem(noType);
    expect(noType.body.detail).toContain('no declared type');
    // A browser's fetch() sends Content-Length: 0 and no type on a POST without a body.
    const empty = await request(server)
      .post(`/api/messages/${randomUUID()}/retry`)
      .set('authorization', `Bearer ${token}`)
      .set('content-length', '0');
    expect(empty.status).toBe(404);
    expectProblem(empty);
  });

  it('refuses the WeCom callback in problem details too (WeCom reads only the status)', async () => {
    const res = await http().get('/wecom/callback');
    expect(res.status).toBeGreaterThanOrEqual(400);
    expectProblem(res);
    const xml = await http()
      .post('/wecom/callback')
      .query({ msg_signature: 'x', timestamp: '1', nonce: 'n' })
      .set('content-type', 'text/xml')
      .send('<xml/>');
    expect(xml.status).not.toBe(415);
  });

  it('answers a route that does not exist, malformed JSON and a 500-free 404 in the same shape', async () => {
    const missing = await http().get('/api/nothing-here?access_token=abc');
    expect(missing.status).toBe(404);
    expectProblem(missing);
    expect(missing.body.detail).toBe('Cannot GET /api/nothing-here');
    const broken = await http()
      .post('/api/user-mappings')
      .set('authorization', `Bearer ${token}`)
      .set('content-type', 'application/json')
      .send('{"platformUserId": "secret-for-specs');
    expect(broken.status).toBe(400);
    expectProblem(broken);
    expect(broken.body.detail).toBe('Request body is not valid JSON');
    const notFound = await http()
      .get(`/api/interviews/${randomUUID()}`)
      .set('authorization', `Bearer ${token}`);
    expect(notFound.status).toBe(404);
    expectProblem(notFound);
    expect(notFound.body).toMatchObject({ type: 'about:blank', title: 'Not Found' });
  });

  it('answers a path that does not decode in the same shape, with the same headers', async () => {
    for (const path of ['/api/interviews/%zz', '/api/nothing-here/%E0%A4%A', '/%']) {
      const res = await http().get(path).set('x-request-id', 'bad-path-1');
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expectProblem(res);
      expect(res.body.requestId).toBe('bad-path-1');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['content-security-policy']).toBeDefined();
    }
  });

  it('routes a long path segment to its route, as any other (no 414 of the router)', async () => {
    const res = await http().get(`/api/interviews/${'a'.repeat(300)}`);
    expect(res.status).toBe(401);
    expectProblem(res);
  });
});
