import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { ManualClock } from '../src/common/clock.js';
import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import { MessagingService } from '../src/messaging/messaging.service.js';
import { WeComClient } from '../src/wecom/client/wecom.client.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { inOrganization } from './support/in-organization.js';
import { createTestApp, simulatorEnv, textsFor, tokenFor } from './support/test-app.js';
import {
  createTestDatabase,
  describeWithServer,
  type TestDatabase,
} from './support/test-database.js';

const ROOM = 'https://www.showmebug.com/pads/AB12CD';
const invitationCard = () => ({
  card_type: 'button_interaction',
  main_title: { title: '面试邀请' },
  task_id: 'rest-card-1',
  button_list: [
    { text: '接受', style: 1, key: 'accept' },
    { text: '拒绝', style: 2, key: 'decline' },
  ],
});

describe('Messaging (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let dispatcher: MessageDispatcher;
  let admin: string;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T10:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) }, { clock });
    app.get(WeComClient).backoff = { maxRetries: 1, baseDelayMs: 5, maxDelayMs: 10 };
    dispatcher = app.get(MessageDispatcher);
    admin = await tokenFor('admin-1', 'admin');
    await http()
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u1', wecomUserId: 'zhangsan' })
      .expect(201);
    await http()
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u3', mobile: '13800000002' })
      .expect(201);
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  beforeEach(() => sim.clearFaults());

  /** Runs the dispatcher, moving the clock past retry and pacing delays, until nothing is due. */
  async function deliverAll(rounds = 20): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      await dispatcher.drain();
      clock.advance(61_000);
    }
  }

  const post = (body: object) =>
    http().post('/api/messages').auth(admin, { type: 'bearer' }).send(body);

  it('keeps every recipient’s fate: mapped, unmapped, unknown to WeCom, unlicensed', async () => {
    const res = await post({
      to: [
        { platformUserId: 'u1' },
        { platformUserId: 'nobody' },
        { wecomUserId: 'ghost' },
        { wecomUserId: 'sunqi' },
      ],
      msgtype: 'text',
      text: { content: '这是一条测试消息' },
    }).expect(202);
    expect(res.body.status).toBe('queued');
    await dispatcher.drain();
    const got = await http()
      .get(`/api/messages/${res.body.id}`)
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(got.body.status).toBe('partially_sent');
    const fate = Object.fromEntries(
      got.body.recipients.map(
        (r: { platformUserId: string; wecomUserId: string; status: string }) => [
          r.platformUserId ?? r.wecomUserId,
          r.status,
        ],
      ),
    );
    expect(fate).toEqual({
      u1: 'delivered',
      nobody: 'no_mapping',
      ghost: 'invalid_user',
      sunqi: 'unlicensed',
    });
    expect(got.body.attemptLog).toHaveLength(1);
    expect(got.body.attemptLog[0]).toMatchObject({ errcode: 0, recipientCount: 3 });
    expect(textsFor(sim, 'zhangsan').filter((t) => t === '这是一条测试消息')).toHaveLength(1);
  });

  it("says which invalid recipients are outside the app's visible range", async () => {
    sim.addUsers([
      { userid: 'faraway', name: '远方', inRange: false },
      { userid: 'gone', name: '离职', status: 5 },
    ]);
    const res = await post({
      to: [
        { platformUserId: 'u1' },
        { wecomUserId: 'faraway' },
        { wecomUserId: 'ghost' },
        { wecomUserId: 'gone' },
      ],
      msgtype: 'text',
      text: { content: '可见范围' },
    }).expect(202);
    await dispatcher.drain();
    const got = await http()
      .get(`/api/messages/${res.body.id}`)
      .auth(admin, { type: 'bearer' })
      .expect(200);
    const fate = Object.fromEntries(
      got.body.recipients.map(
        (r: { platformUserId: string; wecomUserId: string; status: string; detail?: string }) => [
          r.platformUserId ?? r.wecomUserId,
          [r.status, r.detail],
        ],
      ),
    );
    expect(fate).toEqual({
      u1: ['delivered', undefined],
      faraway: [
        'invalid_user',
        expect.stringMatching(/^outside the app's visible range \(可见范围\)/),
      ],
      ghost: ['invalid_user', 'not a member of the WeCom corp'],
      gone: ['invalid_user', 'has left the corp'],
    });
    expect(sim.messagesFor('faraway')).toEqual([]);
  });

  it('skips a message whose recipients are all unmapped', async () => {
    const res = await post({
      to: [{ platformUserId: 'nobody' }],
      msgtype: 'text',
      text: { content: 'x' },
    }).expect(202);
    expect(res.body.status).toBe('skipped');
  });

  it('returns the first message for a repeated idempotency key and delivers it once', async () => {
    const body = {
      to: [{ platformUserId: 'u3' }],
      msgtype: 'markdown',
      markdown: { content: '**once**\n> only' },
      idempotencyKey: 'k-1',
    };
    const a = await post(body).expect(202);
    const b = await post(body).expect(202);
    expect(b.body.id).toBe(a.body.id);
    await deliverAll(2);
    expect(sim.messagesFor('lisi').filter((m) => m.msgtype === 'markdown')).toHaveLength(1);
    expect(sim.messagesFor('lisi').at(-1)?.body).toMatchObject({
      markdown: { content: '**once**\n> only' },
    });
  });

  it.each([
    [
      { to: [{ platformUserId: 'u1' }], msgtype: 'text', text: { content: '长'.repeat(683) } },
      /text.content is 2049 bytes/,
    ],
    [
      { to: [{ platformUserId: 'u1' }], msgtype: 'text', text: { content: '' } },
      /text.content must not be empty/,
    ],
    [{ to: [], msgtype: 'text', text: { content: 'x' } }, /at least one recipient/],
    [{ to: [{ platformUserId: 'u1' }], msgtype: 'voice', text: { content: 'x' } }, /msgtype/],
    [
      {
        to: [{ platformUserId: 'u1' }],
        msgtype: 'textcard',
        textcard: { title: 't', description: 'd' },
      },
      /textcard.url/,
    ],
    [
      {
        to: [{ platformUserId: 'u1', wecomUserId: 'zhangsan' }],
        msgtype: 'text',
        text: { content: 'x' },
      },
      /exactly one/,
    ],
    [{ to: [{ platformUserId: 'u1' }], msgtype: 'text' }, /text is required/],
    [
      { to: [{ platformUserId: 'u1' }], msgtype: 'text', text: { content: 'x' }, extra: 1 },
      /extra is not a field of this request/,
    ],
    [
      {
        to: [{ platformUserId: 'u1' }],
        msgtype: 'template_card',
        template_card: { ...invitationCard(), jump_list: [{ type: 1, title: 'r', url: ROOM }] },
      },
      /template_card of type button_interaction has no field jump_list/,
    ],
    [
      {
        to: [{ platformUserId: 'u1' }],
        msgtype: 'template_card',
        template_card: {
          ...invitationCard(),
          button_list: [
            { text: '接受', key: 'same' },
            { text: '拒绝', key: 'same' },
          ],
        },
      },
      /keys must be unique within the card/,
    ],
  ])('rejects a bad body before queueing it (%#)', async (body, message) => {
    const res = await post(body).expect(400);
    expect(JSON.stringify(res.body.errors)).toMatch(message);
  });

  it('refuses over-long text and markdown with a 400 and queues nothing, though WeCom would cut them', async () => {
    const before = await http().get('/api/messages?limit=100').auth(admin, { type: 'bearer' });
    const delivered = sim.stats().delivered;
    for (const msgtype of ['text', 'markdown']) {
      const res = await post({
        to: [{ platformUserId: 'u1' }],
        msgtype,
        [msgtype]: { content: 'a' + '长'.repeat(683) },
      }).expect(400);
      expect(JSON.stringify(res.body.errors)).toContain(
        `${msgtype}.content is 2050 bytes; WeCom allows at most 2048 (UTF-8)`,
      );
    }
    await deliverAll(1);
    const after = await http().get('/api/messages?limit=100').auth(admin, { type: 'bearer' });
    expect(after.body.items.map((m: { id: string }) => m.id)).toEqual(
      before.body.items.map((m: { id: string }) => m.id),
    );
    expect(sim.stats()).toMatchObject({ delivered, truncated: 0 });
  });

  it('sends a text_notice card with a jump_list, a field that card type documents', async () => {
    const res = await post({
      to: [{ platformUserId: 'u1' }],
      msgtype: 'template_card',
      template_card: {
        card_type: 'text_notice',
        main_title: { title: '面试提醒' },
        card_action: { type: 1, url: ROOM },
        jump_list: [{ type: 1, title: '进入面试间', url: ROOM }],
      },
    }).expect(202);
    await deliverAll(1);
    const got = await http()
      .get(`/api/messages/${res.body.id}`)
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(got.body.status).toBe('sent');
    expect(sim.stats().undocumentedFields).toEqual({});
  });

  it('lets only admins and recruiters send', async () => {
    const interviewer = await tokenFor('i-1', 'interviewer');
    await http().post('/api/messages').auth(interviewer, { type: 'bearer' }).send({}).expect(403);
    await http().post('/api/messages').send({}).expect(401);
  });

  it('delivers through faults in the end, recording every attempt', async () => {
    sim.addFault({ path: '/cgi-bin/message/send', errcode: -1, times: 2 });
    sim.addFault({ path: '/cgi-bin/message/send', httpStatus: 502, times: 2 });
    sim.addFault({ path: '/cgi-bin/message/send', errcode: 45009, times: 1 });
    const res = await post({
      to: [{ platformUserId: 'u1' }],
      msgtype: 'text',
      text: { content: 'through faults' },
    }).expect(202);
    await deliverAll(6);
    const got = await http()
      .get(`/api/messages/${res.body.id}`)
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(got.body.status).toBe('sent');
    expect(got.body.attemptLog.length).toBe(6);
    expect(got.body.attemptLog.map((a: { errcode: number | null }) => a.errcode)).toEqual([
      -1,
      -1,
      null,
      null,
      45009,
      0,
    ]);
    expect(
      sim
        .messagesFor('zhangsan')
        .filter(
          (m) => (m.body as { text?: { content?: string } }).text?.content === 'through faults',
        ),
    ).toHaveLength(1);
  });

  it('fails a message WeCom refuses for good, and retries it on request', async () => {
    sim.addFault({ path: '/cgi-bin/message/send', errcode: 40003, times: 1 });
    const res = await post({
      to: [{ platformUserId: 'u1' }],
      msgtype: 'text',
      text: { content: 'refused once' },
    }).expect(202);
    await dispatcher.drain();
    const failed = await http()
      .get(`/api/messages/${res.body.id}`)
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(failed.body).toMatchObject({ status: 'failed', lastErrcode: 40003 });
    await http()
      .post(`/api/messages/${res.body.id}/retry`)
      .auth(admin, { type: 'bearer' })
      .expect(202);
    await dispatcher.drain();
    const sent = await http()
      .get(`/api/messages/${res.body.id}`)
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(sent.body.status).toBe('sent');
    await http()
      .post(`/api/messages/${res.body.id}/retry`)
      .auth(admin, { type: 'bearer' })
      .expect(409);
  });

  it('paces a member to 30 messages a minute instead of letting WeCom drop the rest', async () => {
    sim.addUsers([{ userid: 'busy', name: '忙人' }]);
    const messaging = app.get(MessagingService);
    for (let i = 0; i < 35; i++) {
      await inOrganization(() =>
        messaging.send({
          kind: 'test.pacing',
          msgtype: 'text',
          content: { content: `n${i}` },
          to: [{ wecomUserId: 'busy' }],
        }),
      );
    }
    await dispatcher.drain();
    expect(sim.messagesFor('busy')).toHaveLength(30);
    clock.advance(62_000);
    await dispatcher.drain();
    expect(sim.messagesFor('busy')).toHaveLength(35);
    expect(sim.stats().dropped).toBe(0);
  });

  it('takes back the claim of an instance that died mid-delivery once its lease ends', async () => {
    const messaging = app.get(MessagingService);
    const msg = await inOrganization(() =>
      messaging.send({
        kind: 'test.crash',
        msgtype: 'text',
        content: { content: 'orphan' },
        to: [{ wecomUserId: 'wangwu' }],
      }),
    );
    const claimed = await inOrganization(() => dispatcher.claim(10)); // "crashes" right after claiming
    expect(claimed.map((c) => c.id)).toContain(msg.id);
    expect(await dispatcher.drain()).toBe(0); // the lease still holds
    clock.advance(61_000);
    await dispatcher.drain();
    expect(
      sim
        .messagesFor('wangwu')
        .filter((m) => (m.body as { text?: { content?: string } }).text?.content === 'orphan'),
    ).toHaveLength(1);
  });

  it('recalls a sent message through WeCom', async () => {
    const res = await post({
      to: [{ platformUserId: 'u1' }],
      msgtype: 'text',
      text: { content: 'to recall' },
    }).expect(202);
    await dispatcher.drain();
    const recalled = await http()
      .post(`/api/messages/${res.body.id}/recall`)
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(recalled.body.status).toBe('recalled');
    expect(
      sim
        .messagesFor('zhangsan')
        .find((m) => (m.body as { text?: { content?: string } }).text?.content === 'to recall')
        ?.recalled,
    ).toBe(true);
  });

  it('lists the history with filters and a cursor', async () => {
    const first = await http()
      .get('/api/messages?limit=2&recipient=u1')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(first.body.items).toHaveLength(2);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await http()
      .get(`/api/messages?limit=2&recipient=u1&cursor=${first.body.nextCursor}`)
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(second.body.items[0].id).not.toBe(first.body.items[1].id);
    await http().get('/api/messages?cursor=garbage').auth(admin, { type: 'bearer' }).expect(400);
    await http().get('/api/messages?status=nonsense').auth(admin, { type: 'bearer' }).expect(400);
  });
});

describe('User mappings (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  let admin: string;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) });
    admin = await tokenFor('admin-1', 'admin');
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  const create = (body: object) =>
    http().post('/api/user-mappings').auth(admin, { type: 'bearer' }).send(body);

  it('maps by userid, mobile and email, and names the holder on a conflict', async () => {
    const a = await create({ platformUserId: 'p1', wecomUserId: 'zhangsan' }).expect(201);
    expect(a.body).toMatchObject({
      platformUserId: 'p1',
      wecomUserId: 'zhangsan',
      source: 'admin',
      createdBy: 'admin-1',
    });
    await create({ platformUserId: 'p2', mobile: '13800000002' })
      .expect(201)
      .expect((r) => expect(r.body.wecomUserId).toBe('lisi'));
    await create({ platformUserId: 'p3', email: 'wangwu@example.com' })
      .expect(201)
      .expect((r) => expect(r.body.source).toBe('email'));
    const clash = await create({ platformUserId: 'p9', wecomUserId: 'ZhangSan' }).expect(409);
    expect(clash.body.detail).toBe('WeCom user zhangsan is already mapped to platform user p1');
    await create({ platformUserId: 'p1', wecomUserId: 'zhaoliu' }).expect(409);
  });

  it('answers 422 with the WeCom errcode for an unknown member', async () => {
    const res = await create({ platformUserId: 'p4', mobile: '13999999999' }).expect(422);
    expect(res.body).toMatchObject({ errcode: 46004 });
    await create({ platformUserId: 'p4', wecomUserId: 'nobody' }).expect(422);
  });

  it("refuses a member outside the app's visible range, found by userid or by mobile", async () => {
    sim.addUsers([{ userid: 'Faraway', name: '远方', mobile: '13800000099', inRange: false }]);
    for (const by of [{ wecomUserId: 'faraway' }, { mobile: '13800000099' }]) {
      const res = await create({ platformUserId: 'p6', ...by }).expect(422);
      expect(res.body).toMatchObject({ errcode: 60011 });
      expect(res.body.detail).toMatch(
        /^WeCom member [Ff]araway is outside the app's visible range \(可见范围\)/,
      );
    }
    const list = await http().get('/api/user-mappings').auth(admin, { type: 'bearer' });
    expect(list.body.items.map((m: { platformUserId: string }) => m.platformUserId)).not.toContain(
      'p6',
    );
  });

  it('rejects ambiguous or malformed bodies', async () => {
    await create({ platformUserId: 'p5', wecomUserId: 'zhaoliu', mobile: '13800000004' }).expect(
      400,
    );
    await create({ platformUserId: 'p5' }).expect(400);
    await create({ platformUserId: 'bad id!', wecomUserId: 'zhaoliu' }).expect(400);
  });

  it('lists, gets and deletes', async () => {
    const list = await http()
      .get('/api/user-mappings?source=mobile')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(list.body.items.map((m: { platformUserId: string }) => m.platformUserId)).toEqual([
      'p2',
    ]);
    const id = list.body.items[0].id;
    await http().get(`/api/user-mappings/${id}`).auth(admin, { type: 'bearer' }).expect(200);
    await http().delete(`/api/user-mappings/${id}`).auth(admin, { type: 'bearer' }).expect(204);
    await http().get(`/api/user-mappings/${id}`).auth(admin, { type: 'bearer' }).expect(404);
    await http().get('/api/user-mappings/not-a-uuid').auth(admin, { type: 'bearer' }).expect(400);
  });
});

describeWithServer('Messaging across three instances (PostgreSQL server)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator({ latencyMs: 5 });
    sim.addUsers(Array.from({ length: 100 }, (_, i) => ({ userid: `m${i}`, name: `成员${i}` })));
    await sim.start();
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await sim?.stop();
    await db?.drop();
  });

  it('delivers 300 messages posted across three instances exactly once each', async () => {
    const env = {
      ...db.env,
      ...simulatorEnv(sim.url),
      CRON_ENABLED: 'true',
      DISPATCHER_POLL_MS: '200',
    };
    apps.push(...(await Promise.all([createTestApp(env), createTestApp(env), createTestApp(env)])));
    const admin = await tokenFor('admin-1', 'admin');
    const posts = Array.from({ length: 300 }, (_, i) =>
      request(apps[i % 3].getHttpServer())
        .post('/api/messages')
        .auth(admin, { type: 'bearer' })
        .send({
          to: [{ wecomUserId: `m${i % 100}` }],
          msgtype: 'text',
          text: { content: `message ${i}` },
          idempotencyKey: `multi-${i}`,
        })
        .expect(202),
    );
    await Promise.all(posts);
    const deadline = Date.now() + 30_000;
    while (sim.stats().delivered < 300 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    expect(sim.stats().delivered).toBe(300);
    for (let m = 0; m < 100; m++) expect(sim.messagesFor(`m${m}`)).toHaveLength(3);
    expect(sim.stats().calls['/cgi-bin/gettoken']).toBe(1);
    const rows = await request(apps[0].getHttpServer())
      .get('/api/messages?status=sent&limit=200')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(rows.body.items).toHaveLength(200);
  });
});
