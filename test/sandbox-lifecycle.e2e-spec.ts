import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { WeComSettings } from '../src/wecom/wecom-settings.js';
import { WeComSandbox } from '../tools/wecom-simulator/sandbox.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { freePort } from './support/service-process.js';
import { createTestApp, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const answers = (url: string) =>
  fetch(`${url}/__simulator/stats`).then(
    (r) => r.ok,
    () => false,
  );

/** Sandbox mode as main.ts runs it: the simulator starts before the app and stops with it. */
describe('Sandbox start-up and shut-down (e2e)', () => {
  const dbs: TestDatabase[] = [];
  const apps: INestApplication[] = [];
  let other: WeComSimulator | undefined;

  afterAll(async () => {
    for (const app of apps) await app.close();
    await other?.stop();
    for (const db of dbs) await db.drop();
  });

  const start = async (overrides: Record<string, string> = {}) => {
    const db = await createTestDatabase();
    dbs.push(db);
    const app = await createTestApp({ ...db.env, ...overrides });
    apps.push(app);
    return app;
  };

  it('runs its own simulator, talks to it, and stops it when the app closes', async () => {
    const app = await start();
    const sandbox = app.get(WeComSandbox);
    expect(sandbox.simulator).toBeDefined();
    expect(app.get(WeComSettings)).toMatchObject({ baseUrl: sandbox.url, sandbox: true });
    const health = await request(app.getHttpServer()).get('/health').expect(200);
    expect(health.body.wecom).toMatchObject({ sandbox: true });
    expect(await answers(sandbox.url)).toBe(true);

    apps.splice(apps.indexOf(app), 1);
    await app.close();
    expect(await answers(sandbox.url)).toBe(false);
  });

  it('shares the simulator another process runs on SIMULATOR_PORT, and leaves it running', async () => {
    const port = await freePort();
    other = new WeComSimulator();
    await other.start(port);
    const app = await start({ SIMULATOR_PORT: String(port) });
    const sandbox = app.get(WeComSandbox);
    expect(sandbox.simulator).toBeUndefined();
    expect(app.get(WeComSettings).baseUrl).toBe(`http://127.0.0.1:${port}`);
    // An admin's check calls gettoken: on the shared simulator.
    const before = other.stats().calls['/cgi-bin/gettoken'] ?? 0;
    const check = await request(app.getHttpServer())
      .post('/api/admin/wecom/check')
      .auth(await tokenFor('admin-1', 'admin'), { type: 'bearer' })
      .send({});
    expect(check.body).toMatchObject({ ok: true, corpId: 'ww-sandbox' });
    expect(other.stats().calls['/cgi-bin/gettoken']).toBeGreaterThan(before);

    await app.close();
    expect(await answers(other.url)).toBe(true);
  });
});
