import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';

import { createHttpAdapter } from '../src/app.setup.js';
import { requestIdHook } from '../src/common/request-id.hook.js';
import { securityHeadersHook } from '../src/common/security-headers.hook.js';
import { CONSOLE_CSP, serveConsole } from '../src/console/console-static.js';

@Module({})
class EmptyModule {}

/** An app with what configureApp puts before the console (request ids, helmet's CSP). */
async function appServing(dir: string): Promise<INestApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(EmptyModule, createHttpAdapter({}), {
    logger: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', securityHeadersHook);
  fastify.addHook('onRequest', requestIdHook);
  serveConsole(fastify, dir);
  await app.init();
  await fastify.ready();
  return app;
}

describe('The admin console at /admin (e2e)', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'console-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('built', () => {
    let app: INestApplication;
    beforeAll(async () => {
      mkdirSync(join(dir, 'built', 'assets'), { recursive: true });
      writeFileSync(join(dir, 'built', 'index.html'), '<!doctype html><title>console</title>');
      writeFileSync(join(dir, 'built', 'assets', 'index-abc123.js'), 'console.log(1)');
      writeFileSync(join(dir, 'built', 'favicon.svg'), '<svg/>');
      app = await appServing(join(dir, 'built'));
    });
    afterAll(() => app.close());

    it('serves the page with its own CSP, which allows no inline script or style', async () => {
      const res = await request(app.getHttpServer()).get('/admin/').expect(200);
      expect(res.text).toContain('<title>console</title>');
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(CONSOLE_CSP).not.toContain('unsafe');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    });

    it('redirects /admin to /admin/, keeping the query', async () => {
      const res = await request(app.getHttpServer()).get('/admin?x=1').expect(301);
      expect(res.headers.location).toBe('/admin/?x=1');
    });

    it("answers the console's own routes with the page (the console routes in the browser)", async () => {
      for (const path of [
        '/admin/people',
        '/admin/messages/0b6c2f4e-5a1d-4a0e-9a53-3f7d1c2b9e10',
      ]) {
        const res = await request(app.getHttpServer()).get(path).expect(200);
        expect(res.text).toContain('<title>console</title>');
      }
    });

    it('serves hashed assets for good and a missing one as a 404 problem, never the page', async () => {
      const asset = await request(app.getHttpServer())
        .get('/admin/assets/index-abc123.js')
        .expect(200);
      expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(asset.headers['content-type']).toMatch(/javascript/);
      const missing = await request(app.getHttpServer())
        .get('/admin/assets/index-old.js')
        .expect(404);
      expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(missing.body).toMatchObject({
        status: 404,
        detail: 'No such file in the admin console',
      });
      await request(app.getHttpServer()).get('/admin/favicon.svg').expect(200);
      await request(app.getHttpServer()).get('/admin/nothing.png').expect(404);
    });

    it('refuses anything but GET and HEAD, and does not climb out of its folder', async () => {
      const res = await request(app.getHttpServer()).post('/admin/people').expect(405);
      expect(res.headers.allow).toBe('GET, HEAD');
      expect(res.body).toMatchObject({ status: 405 });
      const up = await request(app.getHttpServer()).get('/admin/..%2f..%2fpackage.json');
      expect(up.status).toBeGreaterThanOrEqual(400);
      expect(up.text).not.toContain('showmebug-wecom');
    });
  });

  it('answers a 503 problem saying how to build it when it is not built', async () => {
    const app = await appServing(join(dir, 'never-built'));
    try {
      const res = await request(app.getHttpServer())
        .get('/admin/')
        .set('x-request-id', 'r-503')
        .expect(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toEqual({
        type: 'about:blank',
        title: 'Service Unavailable',
        status: 503,
        detail: expect.stringContaining('npm run build'),
        requestId: 'r-503',
      });
    } finally {
      await app.close();
    }
  });
});
