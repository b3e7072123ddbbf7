import type { AddressInfo } from 'node:net';

import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { ManualClock } from '../src/common/clock.js';
import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import { WeComCallbackService } from '../src/wecom/callback/wecom-callback.service.js';
import type { DeliveredMessage } from '../tools/wecom-simulator/message-log.js';
import {
  WeComSimulator,
  type SimulatedCardClick,
} from '../tools/wecom-simulator/wecom-simulator.js';
import { createTestApp, simulatorEnv, textsFor, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { signedCallback } from './support/wecom-callback-envelope.js';

const TOKEN = 'QDG6eK';
const AES_KEY = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C';
const CORP = 'ww-sandbox';
const HOUR = 3600_000;

type CardBody = { template_card?: { button_list?: { key: string }[] } };

describe('Answering the invitation card from WeCom (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let recruiter: string;
  let rooms = 0;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
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
    // WeCom reaches the service over HTTP: the simulator pushes taps to its callback URL.
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    sim.setCallback({
      url: `http://127.0.0.1:${port}/wecom/callback`,
      token: TOKEN,
      encodingAesKey: AES_KEY,
    });
    recruiter = await tokenFor('rec-1', 'recruiter');
    const admin = await tokenFor('admin-1', 'admin');
    const mappings = [
      { platformUserId: 'u-zhang', wecomUserId: 'zhangsan' },
      { platformUserId: 'u-li', wecomUserId: 'lisi', language: 'en' },
      { platformUserId: 'rec-1', wecomUserId: 'zhaoliu' },
    ];
    for (const m of mappings) {
      await http().post('/api/user-mappings').auth(admin, { type: 'bearer' }).send(m).expect(201);
    }
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  beforeEach(() => clock.advance(61_000));

  const deliver = () => app.get(MessageDispatcher).drain();

  async function bookInterview(): Promise<{ id: string; roomUrl: string }> {
    rooms++;
    const roomUrl = `https://www.showmebug.com/pads/CARD${rooms}`;
    const res = await http()
      .post('/api/interviews')
      .auth(recruiter, { type: 'bearer' })
      .send({
        title: `后端工程师 一面 (C${rooms})`,
        candidate: { name: '李雷' },
        startsAt: new Date(clock.nowMs() + 48 * HOUR).toISOString(),
        durationMinutes: 45,
        roomUrl,
        interviewers: ['u-zhang', 'u-li'],
      })
      .expect(201);
    await deliver();
    return { id: res.body.interview.id as string, roomUrl };
  }

  /** The invitation card `userid` received for this interview. */
  function cardOf(userid: string, interviewId: string): DeliveredMessage {
    const card = sim.messagesFor(userid).find((m) => {
      const buttons = (m.body as CardBody).template_card?.button_list ?? [];
      return buttons.some((b) => b.key === `rsvp:accept:${interviewId}`);
    });
    if (!card) throw new Error(`${userid} got no invitation card for ${interviewId}`);
    return card;
  }

  /** The member taps: the simulator pushes the event to /wecom/callback, as WeCom would. */
  async function tap(userid: string, msgid: string, key: string): Promise<SimulatedCardClick> {
    const { click, delivery } = await sim.clickCard(userid, msgid, key);
    expect(delivery).toMatchObject({ delivered: true, attempts: [{ status: 200 }] });
    await app.get(WeComCallbackService).whenIdle();
    return click;
  }

  /**
   * Posts an event by hand, encrypted with WeCom's own library (@wecom/crypto): a second,
   * independent implementation of the scheme, and a way to send what the simulator would not.
   */
  async function postClick(click: SimulatedCardClick): Promise<void> {
    const inner =
      `<xml><ToUserName><![CDATA[${CORP}]]></ToUserName>` +
      `<FromUserName><![CDATA[${click.fromUser}]]></FromUserName>` +
      `<CreateTime>${click.createTime}</CreateTime>` +
      `<MsgType><![CDATA[event]]></MsgType>` +
      `<Event><![CDATA[template_card_event]]></Event>` +
      `<EventKey><![CDATA[${click.eventKey}]]></EventKey>` +
      `<TaskId><![CDATA[${click.taskId}]]></TaskId>` +
      `<CardType><![CDATA[${click.cardType}]]></CardType>` +
      `<ResponseCode><![CDATA[${click.responseCode}]]></ResponseCode>` +
      `<AgentID>${click.agentId}</AgentID><SelectedItems></SelectedItems></xml>`;
    const signed = signedCallback(
      inner,
      { token: TOKEN, aesKey: AES_KEY, corpId: CORP },
      { timestamp: Math.floor(clock.nowMs() / 1000), agentId: '1000002' },
    );
    await http()
      .post('/wecom/callback')
      .query(signed.query)
      .set('Content-Type', 'text/xml')
      .send(signed.body)
      .expect(200);
    await app.get(WeComCallbackService).whenIdle();
  }

  const rsvpOf = async (interviewId: string, platformUserId: string) => {
    const [row] = await db.ownerQuery(
      'SELECT rsvp, responded_at FROM interview_participants WHERE interview_id = $1 AND platform_user_id = $2',
      [interviewId, platformUserId],
    );
    return row as { rsvp: string; responded_at: Date | null };
  };
  const cardUpdates = (userid: string) =>
    sim.messagesFor(userid).filter((m) => m.msgtype === 'update_template_card');

  it('Accept sets the RSVP, turns the buttons into 已接受 once, and tells the recruiter', async () => {
    const { id } = await bookInterview();
    const card = cardOf('zhangsan', id);
    const updatesBefore = cardUpdates('zhangsan').length;
    const recruiterBefore = textsFor(sim, 'zhaoliu').length;

    await tap('zhangsan', card.msgid, `rsvp:accept:${id}`);

    expect(await rsvpOf(id, 'u-zhang')).toMatchObject({ rsvp: 'accepted' });
    const updates = cardUpdates('zhangsan');
    expect(updates).toHaveLength(updatesBefore + 1);
    expect(updates.at(-1)?.body).toMatchObject({ button: { replace_name: '已接受' } });
    await deliver();
    const told = textsFor(sim, 'zhaoliu').slice(recruiterBefore);
    expect(told).toEqual([expect.stringMatching(/^u-zhang 已接受面试「后端工程师 一面/)]);

    // The REST view agrees with the card.
    const res = await http()
      .get(`/api/interviews/${id}`)
      .auth(recruiter, { type: 'bearer' })
      .expect(200);
    expect(res.body.participants).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ platformUserId: 'u-zhang', rsvp: 'accepted' }),
      ]),
    );
  });

  it('a replay of the same event (WeCom retrying) changes nothing', async () => {
    const { id } = await bookInterview();
    const card = cardOf('zhangsan', id);
    const click = await tap('zhangsan', card.msgid, `rsvp:decline:${id}`);
    await deliver();
    const after = await rsvpOf(id, 'u-zhang');
    const updates = cardUpdates('zhangsan').length;
    const recruiterTexts = textsFor(sim, 'zhaoliu').length;
    const events = await db.ownerQuery('SELECT count(*)::int AS n FROM wecom_events');

    clock.advance(5_000);
    await postClick(click);
    await deliver();

    expect(await rsvpOf(id, 'u-zhang')).toEqual(after);
    expect(after.rsvp).toBe('declined');
    expect(cardUpdates('zhangsan')).toHaveLength(updates);
    expect(textsFor(sim, 'zhaoliu')).toHaveLength(recruiterTexts);
    expect(await db.ownerQuery('SELECT count(*)::int AS n FROM wecom_events')).toEqual(events);
  });

  it('Decline from an English speaker shows "Declined" on the card', async () => {
    const { id } = await bookInterview();
    const card = cardOf('lisi', id);
    await tap('lisi', card.msgid, `rsvp:decline:${id}`);
    expect(await rsvpOf(id, 'u-li')).toMatchObject({ rsvp: 'declined' });
    expect(cardUpdates('lisi').at(-1)?.body).toMatchObject({
      button: { replace_name: 'Declined' },
    });
  });

  it('the same answer again through REST is a no-op: the recruiter is told once', async () => {
    const { id } = await bookInterview();
    const card = cardOf('zhangsan', id);
    await tap('zhangsan', card.msgid, `rsvp:accept:${id}`);
    await deliver();
    const recruiterTexts = textsFor(sim, 'zhaoliu').length;
    const zhang = await tokenFor('u-zhang', 'interviewer');
    await http()
      .post(`/api/interviews/${id}/rsvp`)
      .auth(zhang, { type: 'bearer' })
      .send({ response: 'accepted' })
      .expect(200);
    await deliver();
    expect(textsFor(sim, 'zhaoliu')).toHaveLength(recruiterTexts);
  });

  it('a tap on the card of a canceled interview sets nothing and marks the card 已失效', async () => {
    const { id } = await bookInterview();
    const card = cardOf('zhangsan', id);
    await http()
      .post(`/api/interviews/${id}/cancel`)
      .auth(recruiter, { type: 'bearer' })
      .send({ reason: '候选人改期' })
      .expect(200);
    await tap('zhangsan', card.msgid, `rsvp:accept:${id}`);
    expect(await rsvpOf(id, 'u-zhang')).toMatchObject({ rsvp: 'pending', responded_at: null });
    expect(cardUpdates('zhangsan').at(-1)?.body).toMatchObject({
      button: { replace_name: '已失效' },
    });
  });

  it('a click from a member without a mapping is stored with the reason and changes nothing', async () => {
    const { id } = await bookInterview();
    const card = cardOf('zhangsan', id);
    const click = sim.cardClickEvent('zhangsan', card.msgid, `rsvp:accept:${id}`);
    await postClick({ ...click, fromUser: 'stranger' });
    expect(await rsvpOf(id, 'u-zhang')).toMatchObject({ rsvp: 'pending' });
    const [row] = await db.ownerQuery(
      "SELECT handler_error FROM wecom_events WHERE from_user = 'stranger' ORDER BY received_at DESC LIMIT 1",
    );
    expect((row as { handler_error: string }).handler_error).toMatch(/no platform user mapping/);
  });

  it.each([
    ['not a uuid', 'rsvp:accept:42'],
    ['36 dashes', `rsvp:accept:${'-'.repeat(36)}`],
    ['an injection attempt', "rsvp:decline:1' OR '1'='1"],
  ])(
    'a click whose key carries %s is stored as refused, with no database error and no change',
    async (_, eventKey) => {
      const { id } = await bookInterview();
      const card = cardOf('zhangsan', id);
      const updates = cardUpdates('zhangsan').length;
      const click = sim.cardClickEvent('zhangsan', card.msgid, `rsvp:accept:${id}`);
      await postClick({ ...click, eventKey });
      expect(await rsvpOf(id, 'u-zhang')).toMatchObject({ rsvp: 'pending', responded_at: null });
      expect(cardUpdates('zhangsan')).toHaveLength(updates);
      const [row] = await db.ownerQuery(
        'SELECT handler_error FROM wecom_events WHERE body LIKE $1 ORDER BY received_at DESC LIMIT 1',
        [`%<EventKey><![CDATA[${eventKey}]]></EventKey>%`],
      );
      const error = (row as { handler_error: string }).handler_error;
      expect(error).toMatch(/^RsvpKeyError: card key starts with rsvp: but is not/);
      expect(error).not.toMatch(/QueryFailedError|invalid input syntax/);
    },
  );
});
