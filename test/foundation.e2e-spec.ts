import type { INestApplication } from '@nestjs/common';
import { SignJWT } from 'jose';
import request from 'supertest';

import { DEFAULT_ORGANIZATION } from '../src/organizations/organization.js';
import { createTestApp, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

describe('Foundation (e2e)', () => {
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

  it('GET /health reports the database engine and version', async () => {
    const res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body).toMatchObject({ status: 'ok', db: { status: 'up', engine: db.engine } });
    expect(res.body.db.version).toMatch(/^\d+/);
  });

  it('echoes a sane x-request-id and replaces a hostile one', async () => {
    const ok = await request(app.getHttpServer()).get('/health').set('x-request-id', 'abc-123');
    expect(ok.headers['x-request-id']).toBe('abc-123');
    const bad = await request(app.getHttpServer()).get('/health').set('x-request-id', '<script>');
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('rejects /api without a token with a 401 problem carrying the request id', async () => {
    const res = await request(app.getHttpServer())
      .get('/api/me')
      .set('x-request-id', 'r-1')
      .expect(401);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Unauthorized',
      status: 401,
      detail: 'Missing bearer token',
      requestId: 'r-1',
    });
  });

  it('rejects forged and expired tokens', async () => {
    const forged = await new SignJWT({ roles: ['admin'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u1')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-entirely-000000'));
    await request(app.getHttpServer()).get('/api/me').auth(forged, { type: 'bearer' }).expect(401);
    const expired = await new SignJWT({ roles: ['admin'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u1')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode('test-secret-for-specs-only-0123456789'));
    const res = await request(app.getHttpServer()).get('/api/me').auth(expired, { type: 'bearer' });
    expect(res.status).toBe(401);
    expect(res.body.detail).toBe('Token has expired');
  });

  it('accepts a valid token and returns the caller', async () => {
    const token = await tokenFor('u-42', 'recruiter');
    const res = await request(app.getHttpServer())
      .get('/api/me')
      .auth(token, { type: 'bearer' })
      .expect(200);
    expect(res.body).toEqual({
      id: 'u-42',
      roles: ['recruiter'],
      organization: { ...DEFAULT_ORGANIZATION, name: 'Default' },
    });
  });

  it('answers malformed JSON with a 400, not a 500', async () => {
    const token = await tokenFor('u-42', 'recruiter');
    const res = await request(app.getHttpServer())
      .post('/api/me')
      .auth(token, { type: 'bearer' })
      .set('content-type', 'application/json')
      .send('{"broken":');
    expect(res.status).toBe(400);
    expect(res.body.detail).toBe('Request body is not valid JSON');
  });

  it('serves the OpenAPI document', async () => {
    const res = await request(app.getHttpServer()).get('/docs-json').expect(200);
    expect(res.body.paths['/health']).toBeDefined();
  });
});
