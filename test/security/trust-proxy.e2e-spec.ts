import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { createTestApp } from '../support/test-app.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/**
 * X-Forwarded-For decides the client address only when TRUST_PROXY names the proxy. The
 * per-address rate limit is what a spoofed address would escape, so it is the witness here:
 * supertest connects from loopback, like a local client or a sidecar would.
 */
describe('TRUST_PROXY and X-Forwarded-For (e2e)', () => {
  let db: TestDatabase;
  const apps: INestApplication[] = [];

  const start = async (env: Record<string, string>) => {
    const app = await createTestApp({
      ...db.env,
      THROTTLE_IP_LIMIT: '3',
      THROTTLE_TTL_S: '60',
      ...env,
    });
    apps.push(app);
    return app;
  };
  /** GET /api/me without a token: a 401, counted against the address before that (429 beyond). */
  const probe = (app: INestApplication, forwardedFor?: string) => {
    const req = request(app.getHttpServer()).get('/api/me');
    return (forwardedFor ? req.set('X-Forwarded-For', forwardedFor) : req).then((r) => r.status);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.drop();
  });

  it('without TRUST_PROXY, a client cannot pick its address: a new X-Forwarded-For each time is still limited', async () => {
    const app = await start({});
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++) statuses.push(await probe(app, `198.51.100.${i}`));
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });

  it('with TRUST_PROXY=loopback, the address the local proxy forwards is the one limited', async () => {
    const app = await start({ TRUST_PROXY: 'loopback' });
    // Five clients behind the proxy, one request each: nobody is over 3.
    const spread: number[] = [];
    for (let i = 1; i <= 5; i++) spread.push(await probe(app, `198.51.100.${i}`));
    expect(spread).toEqual([401, 401, 401, 401, 401]);
    // One of them four times: limited on its own address.
    const one: number[] = [];
    for (let i = 0; i < 4; i++) one.push(await probe(app, '203.0.113.7'));
    expect(one).toEqual([401, 401, 401, 429]);
    // A client's own X-Forwarded-For entry, left of what the proxy appended, is not trusted.
    const spoof: number[] = [];
    for (let i = 1; i <= 2; i++) spoof.push(await probe(app, `10.9.9.${i}, 203.0.113.7`));
    expect(spoof).toEqual([429, 429]);
  });

  it('with a hop count, as many entries from the right are believed', async () => {
    const app = await start({ TRUST_PROXY: '1' });
    const statuses: number[] = [];
    for (let i = 1; i <= 4; i++) statuses.push(await probe(app, `192.0.2.${i}`));
    expect(statuses).toEqual([401, 401, 401, 401]);
  });

  it('refuses a TRUST_PROXY that trusts everyone or is not an address, naming the variable', async () => {
    await expect(start({ TRUST_PROXY: 'true' })).rejects.toThrow(
      /^Invalid configuration: TRUST_PROXY must name the proxies/,
    );
    await expect(start({ TRUST_PROXY: 'loopback,evil.example.com' })).rejects.toThrow(
      'Invalid configuration: TRUST_PROXY must be a hop count or a comma-separated list',
    );
  });
});
