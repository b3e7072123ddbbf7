import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { ManualClock } from '../src/common/clock.js';
import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import { WeComClient } from '../src/wecom/client/wecom.client.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { LogRecorder } from './support/log-recorder.js';
import { createTestApp, simulatorEnv, textsFor, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

describe('Messages held while WeCom refuses the credentials (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let dispatcher: MessageDispatcher;
  let admin: string;
  const logs = new LogRecorder();
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T10:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) }, { clock, logger: logs });
    app.get(WeComClient).backoff = { maxRetries: 1, baseDelayMs: 5, maxDelayMs: 10 };
    dispatcher = app.get(MessageDispatcher);
    admin = await tokenFor('admin-1', 'admin');
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  const send = async (content: string): Promise<string> => {
    const res = await http()
      .post('/api/messages')
      .auth(admin, { type: 'bearer' })
      .send({ to: [{ wecomUserId: 'zhangsan' }], msgtype: 'text', text: { content } })
      .expect(202);
    return res.body.id as string;
  };
  const message = async (id: string) =>
    (await http().get(`/api/messages/${id}`).auth(admin, { type: 'bearer' }).expect(200)).body;
  const health = async () => (await http().get('/health').expect(200)).body;
  const gettokens = () => sim.stats().calls['/cgi-bin/gettoken'] ?? 0;

  it('holds a message when gettoken says 40001, says why on /health, and delivers it once the secret works', async () => {
    sim.revokeTokens(); // the next send needs a new token...
    sim.addFault({ path: '/cgi-bin/gettoken', errcode: 40001, times: 1 }); // ...which is refused once
    const id = await send('held for the secret');
    await dispatcher.drain();

    const held = await message(id);
    expect(held).toMatchObject({ status: 'queued', lastErrcode: 40001 });
    expect(new Date(held.nextAttemptAt).getTime()).toBe(clock.nowMs() + 60_000);
    const wecom = (await health()).wecom;
    expect(wecom).toMatchObject({ status: 'misconfigured', errcode: 40001 });
    expect(wecom.action).toMatch(/Secret/);
    // An operator must act: one ERROR naming what to set, whatever the number of sends.
    expect(logs.take('error', /errcode 40001/)).toHaveLength(1);

    // Within the pause nothing asks WeCom for a token again, however often the dispatcher runs.
    const before = gettokens();
    const second = await send('also waiting');
    for (let i = 0; i < 3; i++) {
      await dispatcher.drain();
      clock.advance(10_000);
    }
    expect(gettokens()).toBe(before);
    expect(await message(second)).toMatchObject({ status: 'queued', lastErrcode: 40001 });

    clock.advance(61_000);
    await dispatcher.drain();
    clock.advance(61_000);
    await dispatcher.drain();
    // Waiting for the credentials spent none of the messages' attempts.
    expect(await message(id)).toMatchObject({ status: 'sent', attempts: 1 });
    expect(await message(second)).toMatchObject({ status: 'sent', attempts: 1 });
    const texts = textsFor(sim, 'zhangsan');
    expect(texts.filter((t) => t === 'held for the secret')).toHaveLength(1);
    expect(texts.filter((t) => t === 'also waiting')).toHaveLength(1);
    expect((await health()).wecom.status).toBe('ok');
  });

  it('holds messages refused with 60020 (untrusted address) and names the address to trust', async () => {
    sim.setTrustedIps(['203.0.113.0/24']);
    const id = await send('from an untrusted address');
    await dispatcher.drain();
    expect(await message(id)).toMatchObject({ status: 'queued', lastErrcode: 60020 });
    expect(textsFor(sim, 'zhangsan')).not.toContain('from an untrusted address');

    const wecom = (await health()).wecom;
    expect(wecom).toMatchObject({ status: 'misconfigured', errcode: 60020, fromIp: '127.0.0.1' });
    expect(wecom.action).toMatch(/trusted IPs/);
    expect(wecom.action).toContain('127.0.0.1');
    expect(logs.take('error', /errcode 60020.*add 127\.0\.0\.1/)).toHaveLength(1);

    const check = await http()
      .post('/api/admin/wecom/check')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(check.body).toMatchObject({ ok: false, errcode: 60020, fromIp: '127.0.0.1' });
    expect(check.body.action).toMatch(/add 127\.0\.0\.1 to the app's trusted IPs/);

    // No call storm while refused: the sends of the pause stop at the token provider.
    const sends = sim.stats().calls['/cgi-bin/message/send'] ?? 0;
    await send('second while untrusted');
    await dispatcher.drain();
    expect(sim.stats().calls['/cgi-bin/message/send'] ?? 0).toBe(sends);

    sim.setTrustedIps(['127.0.0.1']); // the admin adds the address in the WeCom console
    clock.advance(61_000);
    await dispatcher.drain();
    clock.advance(61_000);
    await dispatcher.drain();
    expect(await message(id)).toMatchObject({ status: 'sent' });
    expect(textsFor(sim, 'zhangsan').filter((t) => t === 'from an untrusted address')).toHaveLength(
      1,
    );
    expect(textsFor(sim, 'zhangsan').filter((t) => t === 'second while untrusted')).toHaveLength(1);
  });
});
