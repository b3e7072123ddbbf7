import { randomUUID } from 'node:crypto';

import type { INestApplication } from '@nestjs/common';
import { SignJWT } from 'jose';
import request from 'supertest';

import { mintToken } from '../../src/auth/jwt-verifier.js';
import { ORGANIZATION_ROLES, ROLES, type Role } from '../../src/auth/roles.js';
import { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { createTestApp, simulatorEnv, TEST_JWT_SECRET, tokenFor } from '../support/test-app.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import {
  concretePath,
  controllerRoutes,
  routeKey,
  servedRoutes,
  type ControllerRoute,
} from './route-inventory.js';

/**
 * The routes outside /api that anyone may call, named one by one: a new route outside /api
 * that is not listed here fails this spec until someone decides it is meant to be public.
 */
const PUBLIC_OUTSIDE_API: RegExp[] = [
  /^GET \/health(\/[\w-]+)*$/,
  /^GET \/metrics$/, // behind METRICS_TOKEN when that is set
  /^(GET|POST) \/wecom\/callback(\/:slug)?$/, // WeCom signs these; the signature is the check
  /^GET \/auth\/wecom\/(login|callback)$/, // the browser's sign-in round trip
];
/** Served by Swagger's own handlers, not by a controller. */
const DOCS = /^GET \/docs(-json|-yaml|\/.*)?$/;
/**
 * The admin console's static files (src/console/console-static.ts), any method (405 but for
 * GET and HEAD); no data: every call the console makes goes to a guarded /api route.
 */
const CONSOLE = /^[A-Z]+ \/admin(\/\*)?$/;
/** /api routes that are deliberately public. None today. */
const PUBLIC_API: RegExp[] = [];
/**
 * /api routes without @Roles (any signed-in caller). Deriving the roles from @Roles alone would
 * let a dropped decorator open a route to everyone unnoticed; this list makes that a failure.
 */
const ANY_SIGNED_IN: RegExp[] = [/^GET \/api\/me$/, /^GET \/api\/wecom\/jssdk-config$/];
/**
 * /api routes that answer a valid token carrying no known role (`roles: []`). Only /api/me: it
 * repeats what the token says, so a frontend can explain a 403. Everything else needs a role.
 */
const ROLE_OPTIONAL: RegExp[] = [/^GET \/api\/me$/];
/** All an interviewer may reach: their own interviews and their answer to an invitation. */
const INTERVIEWER_SURFACE: RegExp[] = [
  ...ANY_SIGNED_IN,
  /^GET \/api\/interviews$/,
  /^GET \/api\/interviews\/:id$/,
  /^POST \/api\/interviews\/:id\/rsvp$/,
];
/** The operators' routes: organisations themselves, outside every organisation. */
const OPERATOR_ROUTES: RegExp[] = [
  /^(GET|POST) \/api\/organizations$/,
  /^(GET|PATCH) \/api\/organizations\/:id$/,
];
/** Fewer than this means the walk is broken, not that the app shrank. */
const MIN_ROUTES = 20;
const MIN_API_ROUTES = 15;

const enc = (s: string) => new TextEncoder().encode(s);
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

describe('Authorisation on every route (walks the router)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  let routes: ControllerRoute[];
  let api: ControllerRoute[];
  /** Credentials that must all be refused with 401, by name. */
  let badCredentials: [string, Record<string, string>][];

  const call = (r: { method: string }, path: string, headers: Record<string, string> = {}) => {
    const agent = request(app.getHttpServer());
    const method = r.method === 'ALL' ? 'get' : (r.method.toLowerCase() as 'get');
    let req = agent[method](path);
    for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
    return ['POST', 'PUT', 'PATCH'].includes(r.method) ? req.send({}) : req;
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const label = (r: ControllerRoute) => `${routeKey(r)} (${r.controller}.${r.handler})`;

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
    // Hundreds of requests from one address: rate limiting is not what this spec is about.
    app = await createTestApp({
      ...db.env,
      ...simulatorEnv(sim.url),
      THROTTLE_LIMIT: '100000',
    });
    routes = controllerRoutes(app);
    api = routes.filter((r) => r.path === '/api' || r.path.startsWith('/api/'));

    const everyRole = [...ROLES];
    const valid = await tokenFor('u-walker', ...everyRole);
    const [header, , signature] = valid.split('.');
    badCredentials = [
      ['no Authorization header', {}],
      ['an empty bearer', { authorization: 'Bearer ' }],
      [
        'a Basic header',
        { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
      ],
      ['a token that is not a JWT', bearer('not-a-jwt')],
      [
        'an expired token',
        bearer(
          await mintToken(enc(TEST_JWT_SECRET), { id: 'u-late', roles: everyRole }, nowS() - 60),
        ),
      ],
      [
        'a token without exp',
        bearer(
          await new SignJWT({ roles: everyRole })
            .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
            .setSubject('u-forever')
            .setIssuedAt()
            .sign(enc(TEST_JWT_SECRET)),
        ),
      ],
      [
        'a token living longer than AUTH_MAX_TOKEN_TTL_S (24 h)',
        bearer(await mintToken(enc(TEST_JWT_SECRET), { id: 'u-long', roles: everyRole }, '25h')),
      ],
      [
        'a token signed with another secret',
        bearer(
          await mintToken(enc('another-secret-of-the-same-length-0123'), {
            id: 'u-forger',
            roles: everyRole,
          }),
        ),
      ],
      [
        'an unsigned (alg none) token',
        bearer(
          `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'u-none', roles: everyRole, exp: nowS() + 600 })}.`,
        ),
      ],
      [
        'a valid signature over a changed payload',
        bearer(
          `${header}.${b64({ sub: 'u-other', roles: everyRole, exp: nowS() + 600 })}.${signature}`,
        ),
      ],
    ];
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('finds every controller route in the Fastify router, and nothing it cannot account for', () => {
    const served = servedRoutes(app);
    expect(routes.length).toBeGreaterThanOrEqual(MIN_ROUTES);
    expect(api.length).toBeGreaterThanOrEqual(MIN_API_ROUTES);

    const servedKeys = new Set(served.map(routeKey));
    const declaredKeys = new Set(routes.map(routeKey));
    expect(routes.filter((r) => !servedKeys.has(routeKey(r))).map(label)).toEqual([]);
    // A route no controller declared answers without any guard: only Swagger's and the admin
    // console's may be there.
    const unexplained = served
      .map(routeKey)
      .filter((k) => !declaredKeys.has(k) && !DOCS.test(k) && !CONSOLE.test(k));
    expect(unexplained).toEqual([]);
    process.stdout.write(
      `route walk: ${routes.length} controller routes (${api.length} under /api), ` +
        `${served.length} Fastify routes in all\n`,
    );
  });

  it('lets only the listed routes outside /api be public, and no /api route', () => {
    const outside = routes.filter((r) => !api.includes(r));
    expect(
      outside.filter((r) => !PUBLIC_OUTSIDE_API.some((p) => p.test(routeKey(r)))).map(label),
    ).toEqual([]);
    // Outside /api the guard still applies: a route meant to be public must say so.
    expect(outside.filter((r) => !r.isPublic).map(label)).toEqual([]);
    expect(
      api.filter((r) => r.isPublic && !PUBLIC_API.some((p) => p.test(routeKey(r)))).map(label),
    ).toEqual([]);
  });

  it('keeps least privilege: admin routes admin-only, interviewers on a short list, no route without roles unless listed', () => {
    const matches = (list: RegExp[], r: ControllerRoute) => list.some((p) => p.test(routeKey(r)));
    expect(
      api.filter((r) => r.roles === undefined && !matches(ANY_SIGNED_IN, r)).map(label),
    ).toEqual([]);
    const admin = api.filter((r) => r.path.startsWith('/api/admin'));
    expect(admin.filter((r) => JSON.stringify(r.roles) !== '["admin"]').map(label)).toEqual([]);
    const interviewerMay = api.filter(
      (r) => r.roles === undefined || r.roles.includes('interviewer'),
    );
    expect(interviewerMay.filter((r) => !matches(INTERVIEWER_SURFACE, r)).map(label)).toEqual([]);
    expect(api.filter((r) => r.roleOptional !== matches(ROLE_OPTIONAL, r)).map(label)).toEqual([]);
    // Only the operators' routes work outside an organisation, and only operators reach them.
    expect(api.filter((r) => r.noOrganization !== matches(OPERATOR_ROUTES, r)).map(label)).toEqual(
      [],
    );
    expect(
      api.filter((r) => r.noOrganization && JSON.stringify(r.roles) !== '["operator"]').map(label),
    ).toEqual([]);
    expect(routes.filter((r) => r.noOrganization && !api.includes(r)).map(label)).toEqual([]);
    // Outside /api nothing is role-optional either (public routes need no token at all).
    expect(routes.filter((r) => r.roleOptional && !api.includes(r)).map(label)).toEqual([]);
  });

  it('answers 401 on every /api route to a missing, expired, forged or malformed token', async () => {
    const wrong: string[] = [];
    for (const r of api) {
      const path = concretePath(r.path, randomUUID());
      for (const [name, headers] of badCredentials) {
        const res = await call(r, path, headers);
        if (res.status !== 401) wrong.push(`${label(r)} with ${name}: ${res.status}`);
      }
      if (r.method === 'GET') {
        const head = await request(app.getHttpServer()).head(path);
        if (head.status !== 401) wrong.push(`HEAD ${r.path} without a token: ${head.status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('says why a token without exp, or one living too long, is refused', async () => {
    const [, noExp] = badCredentials.find(([name]) => name === 'a token without exp')!;
    const res = await call({ method: 'GET' }, '/api/interviews', noExp).expect(401);
    expect(res.body.detail).toBe('Token has no expiry (exp); tokens must expire');
    const [, tooLong] = badCredentials.find(([name]) => name.startsWith('a token living longer'))!;
    const long = await call({ method: 'GET' }, '/api/interviews', tooLong).expect(401);
    expect(long.body.detail).toBe(
      'Token lifetime exceeds the maximum of 86400 s (AUTH_MAX_TOKEN_TTL_S)',
    );
  });

  it('does not let a variant of the path (case, trailing slash) skip the guard', async () => {
    const wrong: string[] = [];
    for (const r of api) {
      const path = concretePath(r.path, randomUUID());
      const variants = [
        path.replace(/^\/api/, '/API'),
        path.replace(/^\/api/, '/Api'),
        path.toUpperCase().replace(/[0-9A-F]{8}-[0-9A-F-]{27}/, (u) => u.toLowerCase()),
        `${path}/`,
      ];
      for (const variant of variants) {
        const res = await call(r, variant);
        // 404 if routing ever becomes case-sensitive; never an answer from the handler.
        if (res.status !== 401 && res.status !== 404) {
          wrong.push(`${r.method} ${variant} without a token: ${res.status}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('answers 403 on every /api route to each role its @Roles leaves out, and to no role', async () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const r of api.filter((x) => !x.roleOptional)) {
      const path = concretePath(r.path, randomUUID());
      const allowed = r.roles ?? [...ORGANIZATION_ROLES];
      const outsiders: Role[][] = [
        [],
        ...ROLES.filter((role) => !allowed.includes(role)).map((role) => [role]),
      ];
      for (const roles of outsiders) {
        const res = await call(r, path, bearer(await tokenFor('u-outsider', ...roles)));
        checked++;
        if (res.status !== 403) {
          wrong.push(
            `${label(r)} as [${roles.join(',')}] (allowed: ${allowed.join(',')}): ${res.status}`,
          );
        }
      }
    }
    expect(wrong).toEqual([]);
    // Admin-only and recruiter routes exist, so some role is always left out somewhere.
    expect(checked).toBeGreaterThan(api.length);
  });

  it('answers 403 to an operator on every route inside an organisation, whatever its token names', async () => {
    const wrong: string[] = [];
    const tokens = [
      await tokenFor('u-operator', 'operator'),
      await mintToken(enc(TEST_JWT_SECRET), {
        id: 'u-operator',
        roles: ['operator'],
        organization: 'default',
      }),
    ];
    for (const r of api.filter((x) => !x.noOrganization)) {
      const path = concretePath(r.path, randomUUID());
      for (const token of tokens) {
        const res = await call(r, path, bearer(token));
        if (res.status !== 403) wrong.push(`${label(r)} as operator: ${res.status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('lets each role a route allows past the guard (no 401, no 403, no 500)', async () => {
    const wrong: string[] = [];
    for (const r of api) {
      const path = concretePath(r.path, randomUUID());
      const allowed: Role[][] = [
        ...(r.roles ?? ORGANIZATION_ROLES).map((role) => [role]),
        ...(r.roleOptional ? [[]] : []),
      ];
      for (const roles of allowed) {
        const res = await call(r, path, bearer(await tokenFor('u-insider', ...roles)));
        if ([401, 403, 500].includes(res.status)) {
          wrong.push(
            `${label(r)} as [${roles.join(',')}]: ${res.status} ${JSON.stringify(res.body)}`,
          );
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
