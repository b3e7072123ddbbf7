import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { RateLimitCountersRepository } from '../src/auth/rate-limit-counters.repository.js';
import { RateLimitStore } from '../src/auth/rate-limit.store.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { LogRecorder } from './support/log-recorder.js';
import { DEFAULT_ORGANIZATION } from '../src/organizations/organization.js';
import { OrganizationsService } from '../src/organizations/organizations.service.js';
import { createTestApp, simulatorEnv, tokenFor, tokenIn } from './support/test-app.js';

import {
  createTestDatabase,
  describeWithServer,
  type TestDatabase,
} from './support/test-database.js';

const FRONTEND = 'https://app.showmebug.example';

describe('Rate limits and CORS (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
    app = await createTestApp({
      ...db.env,
      ...simulatorEnv(sim.url),
      FRONTEND_URL: `${FRONTEND}/app`,
      THROTTLE_LIMIT: '3',
      THROTTLE_IP_LIMIT: '8',
      THROTTLE_TTL_S: '60',
    });
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('limits each user, says when to retry, and leaves other users alone', async () => {
    const alice = await tokenFor('alice', 'recruiter');
    const bob = await tokenFor('bob', 'recruiter');
    for (let i = 0; i < 3; i++) {
      await http().get('/api/me').auth(alice, { type: 'bearer' }).expect(200);
    }
    const limited = await http().get('/api/me').auth(alice, { type: 'bearer' }).expect(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(limited.body).toMatchObject({
      type: 'urn:showmebug-wecom:problem:rate-limited',
      status: 429,
      detail: expect.stringMatching(/Too many requests/),
      retryAfter: Number(limited.headers['retry-after']),
    });
    await http().get('/api/me').auth(bob, { type: 'bearer' }).expect(200);
  });

  it('limits each address on public routes too, but never /health', async () => {
    // 5 requests so far from this address; the address allows 8.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await http().get('/auth/wecom/login?redirect=/x')).status);
    }
    expect(statuses.slice(0, 3)).toEqual([302, 302, 302]);
    expect(statuses[3]).toBe(429);
    await http().get('/health').expect(200);
  });

  it('counts requests with bad tokens against the address too (limited before the 401)', async () => {
    // The address is over its 8 by now: a forged token gets 429, not a free 401.
    const res = await http().get('/api/me').set('Authorization', 'Bearer forged.token.here');
    expect(res.status).toBe(429);
  });

  it('answers CORS preflights for the frontend origin only', async () => {
    const ok = await http()
      .options('/api/interviews')
      .set('Origin', FRONTEND)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization,content-type');
    expect(ok.headers['access-control-allow-origin']).toBe(FRONTEND);
    expect(ok.headers['access-control-allow-headers']).toMatch(/Authorization/);

    const other = await http()
      .options('/api/interviews')
      .set('Origin', 'https://evil.example')
      .set('Access-Control-Request-Method', 'POST');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describeWithServer('Rate limits across three instances (e2e, PostgreSQL)', () => {
  const LIMIT = 5;
  let db: TestDatabase;
  let sim: WeComSimulator;
  let apps: INestApplication[] = [];
  // One record for the three apps: Nest's static Logger writes to the last app's logger.
  const logs = new LogRecorder();

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
    const env = {
      ...db.env,
      ...simulatorEnv(sim.url),
      THROTTLE_LIMIT: String(LIMIT),
      THROTTLE_IP_LIMIT: '1000',
      THROTTLE_TTL_S: '60',
    };
    // One after the other: the first runs the migrations.
    for (let i = 0; i < 3; i++) apps.push(await createTestApp(env, { logger: logs }));
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    apps = [];
    await sim?.stop();
    await db?.drop();
  });

  it('admits exactly the limit of 3N requests spread over three instances; the rest get 429 with Retry-After', async () => {
    const carol = await tokenFor('carol', 'recruiter');
    const responses = await Promise.all(
      Array.from({ length: 3 * LIMIT }, (_, i) =>
        request(apps[i % 3].getHttpServer())
          .get('/api/me')
          .auth(carol, { type: 'bearer' }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2 * LIMIT);
    for (const limited of responses.filter((r) => r.status === 429)) {
      const retryAfter = Number(limited.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // Every instance refuses carol now, and still serves someone else.
    for (const app of apps) {
      await request(app.getHttpServer()).get('/api/me').auth(carol, { type: 'bearer' }).expect(429);
    }
    const dave = await tokenFor('dave', 'recruiter');
    await request(apps[2].getHttpServer())
      .get('/api/me')
      .auth(dave, { type: 'bearer' })
      .expect(200);
  });

  it("counts a signed-in request's address and user in one statement, and a refused request's address alone", async () => {
    const counters = apps[0].get(RateLimitCountersRepository);
    const original = counters.hitMany.bind(counters);
    const statements: string[][] = [];
    counters.hitMany = (hits, ttlMs) => {
      statements.push(hits.map((h) => h.key.split(':')[0]));
      return original(hits, ttlMs);
    };
    try {
      const gina = await tokenFor('gina', 'recruiter');
      await request(apps[0].getHttpServer())
        .get('/api/me')
        .auth(gina, { type: 'bearer' })
        .expect(200);
      expect(statements).toEqual([['ip', 'user']]);
      statements.length = 0;
      await request(apps[0].getHttpServer())
        .get('/api/me')
        .set('Authorization', 'Bearer forged.token.here')
        .expect(401);
      expect(statements).toEqual([['ip']]);
    } finally {
      counters.hitMany = original;
    }
  });

  it('gives every hit of a batch a count of its own, across instances counting at once', async () => {
    // 3 × 20 hits of one key queued at once: each instance counts them in a few statements
    // (one in flight, the rest batched), and each hit must still get its own place in the window.
    const stores = apps.map((app) => app.get(RateLimitStore));
    expect(stores.map((s) => s.kind)).toEqual(['postgres', 'postgres', 'postgres']);
    const now = Date.now();
    const windows = await Promise.all(
      stores.flatMap((store) =>
        Array.from({ length: 20 }, (_, i) => store.hit(i % 2 ? 'batch:a' : 'batch:b', now, 60_000)),
      ),
    );
    const counts = (key: number) =>
      windows
        .filter((_, i) => (i % 20) % 2 === key)
        .map((w) => w.count)
        .sort((x, y) => x - y);
    const oneToThirty = Array.from({ length: 30 }, (_, i) => i + 1);
    expect(counts(0)).toEqual(oneToThirty);
    expect(counts(1)).toEqual(oneToThirty);
    const [stored] = await db.ownerQuery<{ count: number }>(
      `SELECT count FROM rate_limit_counters WHERE key = 'batch:a'`,
    );
    expect(stored.count).toBe(30);
  });

  it('lets requests through (fails open) while the counter store is unavailable', async () => {
    const erin = await tokenFor('erin', 'recruiter');
    // DDL: the owner's (the services' role may only read and write rows).
    await db.ownerQuery('ALTER TABLE rate_limit_counters RENAME TO rate_limit_counters_away');
    try {
      for (let i = 0; i < LIMIT + 2; i++) {
        await request(apps[i % 3].getHttpServer())
          .get('/api/me')
          .auth(erin, { type: 'bearer' })
          .expect(200);
      }
    } finally {
      await db.ownerQuery('ALTER TABLE rate_limit_counters_away RENAME TO rate_limit_counters');
    }
    // The failure is said (a warning at most once a minute per instance), not hidden.
    expect(logs.take('warn', /rate-limit store \(postgres\) failed/).length).toBeGreaterThan(0);
    logs.take('error', /rate_limit_counters" does not exist/);
    // Counting resumes once the store is back.
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 1; i++) {
      const res = await request(apps[i % 3].getHttpServer())
        .get('/api/me')
        .auth(erin, { type: 'bearer' });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([...Array<number>(LIMIT).fill(200), 429]);
  });

  it('counts a user per organisation: the same platform id in another organisation has its own limit, whichever way the token names it', async () => {
    const [orgB]: { id: string }[] = await db.ownerQuery(
      `INSERT INTO organizations (slug, name) VALUES ('rl-b', 'B Ltd') RETURNING id`,
    );
    for (const app of apps) app.get(OrganizationsService).forget();
    try {
      const inDefault = await tokenIn('default', 'frank', 'recruiter');
      // The same user of B, named by slug and by id: one organisation, one counter.
      const bySlug = await tokenIn('rl-b', 'frank', 'recruiter');
      const byId = await tokenIn(orgB.id, 'frank', 'recruiter');
      const me = (token: string, i: number) =>
        request(apps[i % 3].getHttpServer())
          .get('/api/me')
          .auth(token, { type: 'bearer' });

      const inB: number[] = [];
      for (let i = 0; i < LIMIT + 1; i++) inB.push((await me(i % 2 ? byId : bySlug, i)).status);
      expect(inB).toEqual([...Array<number>(LIMIT).fill(200), 429]);

      // B's frank spent B's counter only: default's frank still has the whole limit.
      const inA: number[] = [];
      for (let i = 0; i < LIMIT + 1; i++) inA.push((await me(inDefault, i)).status);
      expect(inA).toEqual([...Array<number>(LIMIT).fill(200), 429]);
    } finally {
      await db.ownerQuery(`DELETE FROM organizations WHERE id <> $1`, [DEFAULT_ORGANIZATION.id]);
      for (const app of apps) app.get(OrganizationsService).forget();
    }
  });
});
