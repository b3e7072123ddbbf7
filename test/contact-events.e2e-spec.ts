import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { ManualClock } from '../src/common/clock.js';
import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import { WeComCallbackService } from '../src/wecom/callback/wecom-callback.service.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { createTestApp, mapPeople, simulatorEnv, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const TOKEN = 'ContactEvents1';
const AES_KEY = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C';
/** Short, so that a "slow" answer does not cost a spec 5 s. */
const CALLBACK_TIMEOUT_MS = 2500;

type Step = 'pass' | 'fail-500' | 'answer-late';

/**
 * Sits between the simulator and the service's /wecom/callback: forwards requests (and keeps
 * them for replays), or answers 500 without forwarding, or forwards and answers only after the
 * simulator's timeout, as a slow service would.
 */
class CallbackProxy {
  readonly plan: Step[] = [];
  readonly forwarded: { path: string; body: string }[] = [];
  private server?: Server;
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** Sends a request the proxy forwarded before again, byte for byte. */
  replay(index: number): Promise<Response> {
    const { path, body } = this.forwarded[index]!;
    return fetch(`${this.target}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body,
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const step = this.plan.shift() ?? 'pass';
    if (step === 'fail-500') {
      res.writeHead(500).end('busy');
      return;
    }
    const path = req.url ?? '/';
    this.forwarded.push({ path, body });
    const answer = await fetch(`${this.target}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body,
    });
    const text = await answer.text();
    if (step === 'answer-late') {
      await new Promise((r) => setTimeout(r, CALLBACK_TIMEOUT_MS + 400));
    }
    if (!res.destroyed) res.writeHead(answer.status).end(text);
  }
}

describe('WeCom contact events: mappings follow members who leave or change userid (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let proxy: CallbackProxy;
  let admin: string;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));
    sim = new WeComSimulator({
      now: () => clock.nowMs(),
      callbackTimeoutMs: CALLBACK_TIMEOUT_MS,
      users: [
        { userid: 'zhangsan', name: '张三' },
        { userid: 'lisi', name: '李四' },
        { userid: 'wangwu', name: '王五' },
        { userid: 'zhaoliu', name: '赵六' },
        { userid: 'sunqi', name: '孙七' },
        { userid: 'zhouba', name: '周八' },
      ],
    });
    await sim.start();
    app = await createTestApp(
      {
        ...db.env,
        ...simulatorEnv(sim.url),
        WECOM_CALLBACK_TOKEN: TOKEN,
        WECOM_CALLBACK_AES_KEY: AES_KEY,
      },
      { clock },
    );
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    proxy = new CallbackProxy(`http://127.0.0.1:${port}`);
    await proxy.start();
    sim.setCallback({
      url: `${proxy.url}/wecom/callback`,
      token: TOKEN,
      encodingAesKey: AES_KEY,
    });
    admin = await tokenFor('admin-1', 'admin');
    await mapPeople(app, admin, [
      ['u-zhang', 'zhangsan'],
      ['u-li', 'lisi'],
      ['u-wang', 'wangwu'],
      ['u-zhao', 'zhaoliu'],
      ['u-sun', 'sunqi'],
      ['u-zhou', 'zhouba'],
    ]);
  });

  afterAll(async () => {
    await app?.close();
    await proxy?.stop();
    await sim?.stop();
    await db?.drop();
  });

  beforeEach(() => clock.advance(61_000));

  const idle = () => app.get(WeComCallbackService).whenIdle();
  const deliver = () => app.get(MessageDispatcher).drain();
  const sends = () => sim.stats().calls['/cgi-bin/message/send'] ?? 0;

  async function mappingOf(platformUserId: string) {
    const res = await http()
      .get('/api/user-mappings')
      .query({ platformUserId })
      .auth(admin, { type: 'bearer' })
      .expect(200);
    return res.body.items[0] as { wecomUserId: string; status: string; statusChangedAt: string };
  }

  async function send(to: string[], content: string): Promise<string> {
    const res = await http()
      .post('/api/messages')
      .auth(admin, { type: 'bearer' })
      .send({
        to: to.map((platformUserId) => ({ platformUserId })),
        msgtype: 'text',
        text: { content },
      })
      .expect(202);
    return res.body.id as string;
  }

  async function history(id: string) {
    const res = await http().get(`/api/messages/${id}`).auth(admin, { type: 'bearer' }).expect(200);
    return res.body as {
      status: string;
      recipients: { platformUserId: string; wecomUserId: string; status: string }[];
    };
  }

  const eventRows = (changeType: string, userId: string) =>
    db.ownerQuery(
      `SELECT processed_at, handler_error FROM wecom_events
          WHERE event = 'change_contact' AND body LIKE $1 AND body LIKE $2`,
      [`%<ChangeType><![CDATA[${changeType}]]>%`, `%<UserID><![CDATA[${userId}]]>%`],
    ) as Promise<{ processed_at: Date | null; handler_error: string | null }[]>;

  it('a member removed from WeCom: mapping left, sends to them are inactive_mapping and never reach WeCom', async () => {
    const delivery = await sim.deleteUser('wangwu');
    expect(delivery).toMatchObject({ delivered: true, attempts: [{ status: 200 }] });
    await idle();
    expect(await mappingOf('u-wang')).toMatchObject({
      wecomUserId: 'wangwu',
      status: 'left',
      statusChangedAt: clock.now().toISOString(),
    });

    const before = sends();
    const both = await send(['u-wang', 'u-zhang'], '明天 10:00 面试');
    const alone = await send(['u-wang'], '只给王五');
    await deliver();

    expect(await history(both)).toMatchObject({
      status: 'partially_sent',
      recipients: [
        { platformUserId: 'u-wang', wecomUserId: 'wangwu', status: 'inactive_mapping' },
        { platformUserId: 'u-zhang', wecomUserId: 'zhangsan', status: 'delivered' },
      ],
    });
    expect(await history(alone)).toMatchObject({
      status: 'skipped',
      recipients: [{ platformUserId: 'u-wang', status: 'inactive_mapping' }],
    });
    // One call, for zhangsan alone: wangwu was not even asked for.
    expect(sends()).toBe(before + 1);
    expect(sim.messagesFor('zhangsan').at(-1)?.body).toMatchObject({ touser: 'zhangsan' });
    expect(sim.messagesFor('wangwu')).toEqual([]);
  });

  it('a message queued before the member left is not sent to them either', async () => {
    const queued = await send(['u-zhao'], '排队中的消息');
    await sim.deleteUser('zhaoliu');
    await idle();
    const before = sends();
    await deliver();
    expect(await history(queued)).toMatchObject({
      status: 'failed',
      recipients: [{ platformUserId: 'u-zhao', status: 'inactive_mapping' }],
    });
    expect(sends()).toBe(before);
  });

  it('a changed userid: the mapping follows, and the next message (and a queued one) reach the new userid', async () => {
    const queued = await send(['u-li'], '改名前排队');
    const delivery = await sim.renameUser('lisi', 'li.si');
    expect(delivery.delivered).toBe(true);
    await idle();
    expect(await mappingOf('u-li')).toMatchObject({ wecomUserId: 'li.si', status: 'active' });

    const next = await send(['u-li'], '改名后的消息');
    await deliver();
    expect(await history(next)).toMatchObject({
      status: 'sent',
      recipients: [{ wecomUserId: 'li.si', status: 'delivered' }],
    });
    expect(await history(queued)).toMatchObject({
      status: 'sent',
      recipients: [{ wecomUserId: 'li.si', status: 'delivered' }],
    });
    const texts = sim
      .messagesFor('li.si')
      .map((m) => (m.body as { text: { content: string } }).text.content);
    expect(texts.sort()).toEqual(['改名前排队', '改名后的消息'].sort());
  });

  it('a replayed event changes nothing twice: the same bytes again, and the same change again later', async () => {
    const first = proxy.forwarded.length;
    await sim.setUserStatus('sunqi', 2);
    await idle();
    const disabled = await mappingOf('u-sun');
    expect(disabled.status).toBe('disabled');
    const [{ n: rows }] = await db.ownerQuery('SELECT count(*)::int AS n FROM wecom_events');

    // WeCom's retry of the very same request: acknowledged, not stored or applied again.
    clock.advance(30_000);
    const replay = await proxy.replay(first);
    expect(replay.status).toBe(200);
    await idle();
    expect(await db.ownerQuery('SELECT count(*)::int AS n FROM wecom_events')).toEqual([
      { n: rows },
    ]);
    expect(await mappingOf('u-sun')).toEqual(disabled);

    // A later event saying the same thing: stored, but the mapping is already so.
    clock.advance(1_000);
    await sim.setUserStatus('sunqi', 2);
    await idle();
    expect(await mappingOf('u-sun')).toEqual(disabled);

    // Re-enabled: sends reach them again.
    await sim.setUserStatus('sunqi', 1);
    await idle();
    expect((await mappingOf('u-sun')).status).toBe('active');
    const id = await send(['u-sun'], '欢迎回来');
    await deliver();
    expect((await history(id)).recipients).toMatchObject([{ status: 'delivered' }]);
  });

  it('the service answering 500 once: the event is retried and processed once', async () => {
    proxy.plan.push('fail-500');
    const delivery = await sim.deleteUser('zhouba');
    expect(delivery.delivered).toBe(true);
    expect(delivery.attempts.map((a) => a.status)).toEqual([500, 200]);
    await idle();
    expect(await eventRows('delete_user', 'zhouba')).toEqual([
      { processed_at: expect.any(Date), handler_error: null },
    ]);
    expect((await mappingOf('u-zhou')).status).toBe('left');
  });

  it('the service answering too slowly: WeCom retries, the service recognises it and processes once', async () => {
    const changedBefore = (await mappingOf('u-zhang')).statusChangedAt;
    expect(changedBefore).toBeNull();
    const forwarded = proxy.forwarded.length;
    proxy.plan.push('answer-late');
    const delivery = await sim.setUserStatus('zhangsan', 2);
    expect(delivery.delivered).toBe(true);
    expect(delivery.attempts.map((a) => a.error ?? a.status)).toEqual(['timeout', 200]);
    await idle();
    // Both tries reached the service; one row, handled once.
    expect(proxy.forwarded.length - forwarded).toBe(2);
    const rows: { n: number }[] = await db.ownerQuery(
      `SELECT count(*)::int AS n FROM wecom_events
          WHERE event = 'change_contact' AND body LIKE '%<UserID><![CDATA[zhangsan]]>%'`,
    );
    expect(rows).toEqual([{ n: 1 }]);
    expect((await mappingOf('u-zhang')).status).toBe('disabled');
  });

  it('a userid change onto a member already mapped is recorded on the event, nothing is changed', async () => {
    // zhangsan (disabled above) takes the userid of a mapped but departed member: refused here.
    const delivery = await sim.renameUser('zhangsan', 'wangwu');
    expect(delivery.delivered).toBe(true);
    await idle();
    const [row] = await db.ownerQuery(
      `SELECT handler_error FROM wecom_events
          WHERE body LIKE '%<NewUserID><![CDATA[wangwu]]>%'`,
    );
    expect(row.handler_error).toMatch(/wangwu is already mapped to platform user u-wang/);
    expect(await mappingOf('u-zhang')).toMatchObject({ wecomUserId: 'zhangsan' });
    expect(await mappingOf('u-wang')).toMatchObject({ wecomUserId: 'wangwu', status: 'left' });
  });

  it('booking shows who WeCom will not reach, and their invitation is inactive_mapping', async () => {
    const recruiter = await tokenFor('rec-1', 'recruiter');
    const booked = await http()
      .post('/api/interviews')
      .auth(recruiter, { type: 'bearer' })
      .send({
        title: '后端工程师 一面',
        candidate: { name: '李雷' },
        startsAt: new Date(clock.nowMs() + 48 * 3600_000).toISOString(),
        durationMinutes: 45,
        roomUrl: 'https://www.showmebug.com/pads/CONTACT1',
        interviewers: ['u-wang', 'u-li'],
      })
      .expect(201);
    const wecomOf = Object.fromEntries(
      (booked.body.participants as { platformUserId: string; wecom: string }[]).map((p) => [
        p.platformUserId,
        p.wecom,
      ]),
    );
    expect(wecomOf).toEqual({ 'u-wang': 'left', 'u-li': 'active', 'rec-1': 'unmapped' });
    // Beside the interview: who will not be told, and why, for the recruiter to fix in time.
    expect(booked.body.unreachable).toEqual([
      {
        platformUserId: 'rec-1',
        role: 'recruiter',
        reason: 'no_mapping',
        detail: 'No WeCom member is mapped to this user; map one to notify them',
      },
      {
        platformUserId: 'u-wang',
        role: 'interviewer',
        reason: 'inactive_mapping',
        detail: 'The mapped WeCom member left the WeCom corp; map an active member to notify them',
      },
    ]);

    await deliver();
    const messages = await http()
      .get(`/api/interviews/${booked.body.interview.id}/messages`)
      .auth(recruiter, { type: 'bearer' })
      .expect(200);
    const recipients = (
      await Promise.all(
        (messages.body as { id: string }[]).map(async (m) => (await history(m.id)).recipients),
      )
    ).flat();
    expect(recipients.filter((r) => r.platformUserId === 'u-wang')).toEqual([
      expect.objectContaining({ status: 'inactive_mapping' }),
    ]);
    expect(recipients.filter((r) => r.platformUserId === 'u-li')).toEqual([
      expect.objectContaining({ wecomUserId: 'li.si', status: 'delivered' }),
    ]);
  });
});
