import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import { AccessTokenProvider } from '../src/wecom/token/access-token.provider.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { inOrganization } from './support/in-organization.js';
import { createTestApp, simulatorEnv, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

describe('GET /metrics (e2e)', () => {
  const METRICS_TOKEN = 'scrape-token-0123456789';
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url), METRICS_TOKEN });
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('needs the METRICS_TOKEN bearer token when one is set', async () => {
    await request(app.getHttpServer()).get('/metrics').expect(401);
    await request(app.getHttpServer())
      .get('/metrics')
      .auth('wrong-token-0123456789', { type: 'bearer' })
      .expect(401);
  });

  it('reports messages, WeCom calls, the token, the outbox and HTTP latency', async () => {
    const admin = await tokenFor('admin-1', 'admin');
    await request(app.getHttpServer())
      .post('/api/messages')
      .auth(admin, { type: 'bearer' })
      .send({ to: [{ wecomUserId: 'zhangsan' }], msgtype: 'text', text: { content: 'metrics' } })
      .expect(202);
    await request(app.getHttpServer())
      .post('/api/messages')
      .auth(admin, { type: 'bearer' })
      .send({ to: [{ wecomUserId: 'lisi' }], msgtype: 'text', text: { content: 'still queued' } })
      .expect(202);
    await inOrganization(() => app.get(MessageDispatcher).claim(1));
    await app.get(MessageDispatcher).drain();
    const res = await request(app.getHttpServer())
      .get('/metrics')
      .auth(METRICS_TOKEN, { type: 'bearer' })
      .expect(200);
    const text = res.text;
    expect(text).toMatch(/smbw_messages_queued_total\{kind="api.message",msgtype="text"\} 2/);
    expect(text).toMatch(/smbw_messages_settled_total\{kind="api.message",status="sent"\} 1/);
    expect(text).toMatch(/smbw_wecom_calls_total\{path="\/cgi-bin\/message\/send",errcode="0"\} 1/);
    expect(text).toMatch(/smbw_wecom_gettoken_total 1/);
    expect(text).toMatch(/smbw_wecom_token_seconds_left \d+/);
    expect(text).toMatch(/smbw_outbox_depth 1/);
    expect(text).toMatch(
      /smbw_http_request_duration_seconds_count\{method="POST",route="\/api\/messages",status="202"\} 2/,
    );
    expect(text).not.toContain(await inOrganization(() => app.get(AccessTokenProvider).getToken()));
  });
});
