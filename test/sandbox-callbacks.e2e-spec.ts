import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { WeComCallbackService } from '../src/wecom/callback/wecom-callback.service.js';
import type { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { createSandboxApp, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

/** Sandbox mode (no WECOM_CORP_ID): the built-in simulator pushes events to this very service. */
describe('Sandbox: the built-in simulator pushes events to /wecom/callback (e2e)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let sim: WeComSimulator;
  let admin: string;
  const http = () => request(app.getHttpServer());
  const idle = () => app.get(WeComCallbackService).whenIdle();

  beforeAll(async () => {
    db = await createTestDatabase();
    // WeCom's own 5 s (the default): the service must answer a callback within it.
    ({ app, simulator: sim } = await createSandboxApp(db.env));
    admin = await tokenFor('admin-1', 'admin');
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const mapping = async (platformUserId: string) =>
    (
      await http()
        .get('/api/user-mappings')
        .query({ platformUserId })
        .auth(admin, { type: 'bearer' })
        .expect(200)
    ).body.items[0] as { wecomUserId: string; status: string };

  it('has callback credentials without any in the environment: generated, sealed, audited', async () => {
    const config = await http()
      .get('/api/admin/config')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(config.body).toMatchObject({
      callbackToken: { set: true },
      callbackAesKey: { set: true },
    });
    const [entry] = await db.ownerQuery(
      `SELECT actor, fields FROM config_audit WHERE action = 'sandbox-callback'`,
    );
    expect(entry).toEqual({ actor: 'system', fields: ['callbackToken', 'callbackAesKey'] });
    // The simulator's control API names the URL, never the Token or key.
    const target = await fetch(`${sim.url}/__simulator/callback`).then((r) => r.json());
    expect(target).toEqual({ url: expect.stringMatching(/\/wecom\/callback$/), configured: true });
  });

  it('a member removed in the simulator leaves their mapping inactive in the service', async () => {
    await http()
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u-wang', wecomUserId: 'wangwu' })
      .expect(201);
    const res = await fetch(`${sim.url}/__simulator/users/wangwu/delete`, { method: 'POST' });
    expect(await res.json()).toMatchObject({ delivered: true, attempts: [{ status: 200 }] });
    await idle();
    expect(await mapping('u-wang')).toMatchObject({ status: 'left' });
  });

  it('after an admin changes the callback Token and key, the simulator signs with the new ones', async () => {
    await http()
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u-zhao', wecomUserId: 'zhaoliu' })
      .expect(201);
    await http()
      .patch('/api/admin/config')
      .auth(admin, { type: 'bearer' })
      .send({
        callbackToken: 'NewToken2',
        callbackAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
      })
      .expect(200);
    const delivery = await sim.renameUser('zhaoliu', 'zhao.liu');
    expect(delivery).toMatchObject({ delivered: true, attempts: [{ status: 200 }] });
    await idle();
    expect(await mapping('u-zhao')).toMatchObject({ wecomUserId: 'zhao.liu', status: 'active' });
  });
});
