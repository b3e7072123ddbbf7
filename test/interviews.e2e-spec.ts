import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner.js';

import { ManualClock } from '../src/common/clock.js';
import { buildDataSourceOptions } from '../src/database/database.options.js';
import { localTimeWithZone } from '../src/interviews/interview-time.js';
import { DUE_REMINDERS_SQL } from '../src/interviews/interviews.repository.js';
import { ReminderScheduler } from '../src/interviews/reminder.scheduler.js';
import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { WeComClient } from '../src/wecom/client/wecom.client.js';
import type { DeliveredMessage } from '../tools/wecom-simulator/message-log.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { sqlInOrganization } from './support/organization-sql.js';
import { createTestApp, simulatorEnv, tokenFor } from './support/test-app.js';
import {
  createTestDatabase,
  describeWithServer,
  type TestDatabase,
} from './support/test-database.js';

const HOUR = 3600_000;
const INTERVIEWERS = { 'u-zhang': 'zhangsan', 'u-li': 'lisi', 'u-wang': 'wangwu' };
const EVERYONE = [...Object.values(INTERVIEWERS), 'zhaoliu', 'emily'];

type Card = {
  card_type: string;
  main_title: { title: string; desc: string };
  button_list?: { text: string; key: string }[];
  card_action: { url: string };
  task_id: string;
};
type Body = {
  template_card?: Card;
  textcard?: { title: string; description: string; url: string };
  text?: { content: string };
};

describe('Interviews (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let dispatcher: MessageDispatcher;
  let reminders: ReminderScheduler;
  let recruiter: string;
  let zhang: string;
  let rooms = 0;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    sim.addUsers([{ userid: 'emily', name: 'Emily' }]);
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) }, { clock });
    app.get(WeComClient).backoff = { maxRetries: 1, baseDelayMs: 5, maxDelayMs: 10 };
    dispatcher = app.get(MessageDispatcher);
    reminders = app.get(ReminderScheduler);
    recruiter = await tokenFor('rec-1', 'recruiter');
    zhang = await tokenFor('u-zhang', 'interviewer');
    const admin = await tokenFor('admin-1', 'admin');
    const mappings = [
      ...Object.entries(INTERVIEWERS).map(([p, w]) => ({ platformUserId: p, wecomUserId: w })),
      { platformUserId: 'rec-1', wecomUserId: 'zhaoliu' },
      { platformUserId: 'u-emily', wecomUserId: 'emily', language: 'en' },
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

  // Keeps every member well inside WeCom's 30-a-minute pacing between tests.
  beforeEach(() => clock.advance(61_000));

  /** A booking two days out, with a room link of its own to find its messages by. */
  function booking(overrides: object = {}) {
    rooms++;
    return {
      title: `前端工程师 二面 (R${rooms})`,
      position: '高级前端工程师',
      candidate: { name: '王小明', email: 'wangxm@example.com' },
      startsAt: new Date(clock.nowMs() + 48 * HOUR).toISOString(),
      durationMinutes: 60,
      roomUrl: `https://www.showmebug.com/pads/ROOM${rooms}`,
      interviewers: Object.keys(INTERVIEWERS),
      ...overrides,
    };
  }

  const book = (body: object, token = recruiter) =>
    http().post('/api/interviews').auth(token, { type: 'bearer' }).send(body);

  /** What `userid` received about this booking (its title and room are its own). */
  const received = (
    userid: string,
    of: { title: string; roomUrl: string },
  ): (DeliveredMessage & { body: Body })[] =>
    sim.messagesFor(userid).filter((m) => {
      const json = JSON.stringify(m.body);
      return json.includes(of.roomUrl) || json.includes(of.title);
    }) as (DeliveredMessage & { body: Body })[];

  /** The reminder lag histogram's count and sum (seconds) as /metrics would show them. */
  async function reminderLag(): Promise<{ count: number; sum: number }> {
    const metric = await app.get(MetricsService).reminderLag.get();
    const value = (suffix: string) =>
      metric.values.find((v) => v.metricName === `smbw_reminder_lag_seconds_${suffix}`)?.value ?? 0;
    return { count: value('count'), sum: value('sum') };
  }

  async function waitFor(check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 20));
  }

  /** Delivers everything queued, twice over: a second pass must find nothing to send. */
  async function deliver(): Promise<void> {
    await dispatcher.drain();
    await dispatcher.drain();
  }

  describe('booking, rescheduling, cancelling', () => {
    let id: string;
    let body: ReturnType<typeof booking>;

    it('books: each interviewer and observer gets one RSVP card, the recruiter a receipt', async () => {
      body = booking({ observers: ['u-emily'] });
      const res = await book(body).expect(201);
      id = res.body.interview.id;
      expect(res.body.interview).toMatchObject({
        title: body.title,
        status: 'scheduled',
        version: 1,
        timezone: 'Asia/Shanghai',
        durationMinutes: 60,
        createdBy: 'rec-1',
      });
      const roles = Object.fromEntries(
        res.body.participants.map((p: { platformUserId: string; role: string }) => [
          p.platformUserId,
          p.role,
        ]),
      );
      expect(roles).toEqual({
        'u-zhang': 'interviewer',
        'u-li': 'interviewer',
        'u-wang': 'interviewer',
        'u-emily': 'observer',
        'rec-1': 'recruiter',
      });
      expect(res.body.reminders.map((r: { leadMinutes: number }) => r.leadMinutes)).toEqual([
        1440, 15,
      ]);
      expect(res.body.unreachable).toEqual([]);
      expect(res.headers.etag).toBe('"1"');

      await deliver();
      for (const userid of Object.values(INTERVIEWERS)) {
        const got = received(userid, body);
        expect(got).toHaveLength(1);
        const card = got[0].body.template_card!;
        expect(card.card_type).toBe('button_interaction');
        expect(card.main_title.title).toBe(body.title);
        expect(card.button_list).toEqual([
          expect.objectContaining({ text: '接受', key: `rsvp:accept:${id}` }),
          expect.objectContaining({ text: '拒绝', key: `rsvp:decline:${id}` }),
        ]);
        expect(card.card_action.url).toBe(body.roomUrl);
        expect(JSON.stringify(card)).toContain('(Asia/Shanghai)');
      }
      const english = received('emily', body);
      expect(english).toHaveLength(1);
      expect(english[0].body.template_card!.button_list![0].text).toBe('Accept');
      const receipt = received('zhaoliu', body);
      expect(receipt).toHaveLength(1);
      expect(receipt[0].body.textcard!.title).toBe(`面试已安排：${body.title}`);
    });

    it('shows the interview’s messages', async () => {
      const res = await http()
        .get(`/api/interviews/${id}/messages`)
        .auth(recruiter, { type: 'bearer' })
        .expect(200);
      expect(res.body).toHaveLength(5);
      expect(res.body.every((m: { interviewId: string }) => m.interviewId === id)).toBe(true);
      expect(res.body.map((m: { kind: string }) => m.kind).sort()).toEqual([
        'interview.booked',
        'interview.invited',
        'interview.invited',
        'interview.invited',
        'interview.invited',
      ]);
    });

    it('reschedules: one update each with old and new time; reminders follow', async () => {
      const startsAt = new Date(new Date(body.startsAt).getTime() + 24 * HOUR).toISOString();
      const res = await http()
        .patch(`/api/interviews/${id}`)
        .auth(recruiter, { type: 'bearer' })
        .set('If-Match', '"1"')
        .send({ startsAt })
        .expect(200);
      expect(res.body.interview.version).toBe(2);
      expect(res.headers.etag).toBe('"2"');
      expect(res.body.reminders.map((r: { dueAt: string }) => r.dueAt)).toEqual([
        new Date(Date.parse(startsAt) - 24 * HOUR).toISOString(),
        new Date(Date.parse(startsAt) - 15 * 60_000).toISOString(),
      ]);
      await deliver();
      for (const userid of EVERYONE) {
        const updates = received(userid, body).filter((m) =>
          /原时间|Was/.test(m.body.textcard?.description ?? ''),
        );
        expect(updates).toHaveLength(1);
      }
      const [update] = received('zhangsan', body).filter((m) => m.msgtype === 'textcard');
      expect(update.body.textcard!.title).toBe(`面试时间变更：${body.title}`);
      const shanghai = (iso: string) => localTimeWithZone(new Date(iso), 'Asia/Shanghai');
      expect(update.body.textcard!.description).toContain(`原时间：${shanghai(body.startsAt)}`);
      expect(update.body.textcard!.description).toContain(`新时间：${shanghai(startsAt)}`);

      // The same change again: a stale If-Match is 412, a no-op without; nothing more is sent.
      const stale = await http()
        .patch(`/api/interviews/${id}`)
        .auth(recruiter, { type: 'bearer' })
        .set('If-Match', '"1"')
        .send({ startsAt })
        .expect(412);
      expect(stale.body.version).toBe(2);
      const read = await http()
        .get(`/api/interviews/${id}`)
        .auth(recruiter, { type: 'bearer' })
        .expect(200);
      expect(read.headers.etag).toBe('"2"');
      const again = await http()
        .patch(`/api/interviews/${id}`)
        .auth(recruiter, { type: 'bearer' })
        .send({ startsAt })
        .expect(200);
      expect(again.body.interview.version).toBe(2);
      await deliver();
      for (const userid of EVERYONE) expect(received(userid, body)).toHaveLength(2);
    });

    it('rejects a stale version in the body too', async () => {
      const res = await http()
        .patch(`/api/interviews/${id}`)
        .auth(recruiter, { type: 'bearer' })
        .send({ title: '改个名字', version: 1 })
        .expect(409);
      expect(res.body.detail).toMatch(/version 1 \(now version 2\)/);
    });

    it('cancels: one notice each with the reason; pending reminders are canceled', async () => {
      const res = await http()
        .post(`/api/interviews/${id}/cancel`)
        .auth(recruiter, { type: 'bearer' })
        .send({ reason: '候选人已接受其他 offer' })
        .expect(200);
      expect(res.body.interview).toMatchObject({ status: 'canceled', version: 3 });
      expect(res.body.reminders.map((r: { state: string }) => r.state)).toEqual([
        'canceled',
        'canceled',
      ]);
      await deliver();
      for (const userid of EVERYONE) {
        const notices = received(userid, body).filter((m) => m.msgtype === 'text');
        expect(notices).toHaveLength(1);
        expect(notices[0].body.text!.content).toContain('候选人已接受其他 offer');
      }
      await http()
        .post(`/api/interviews/${id}/cancel`)
        .auth(recruiter, { type: 'bearer' })
        .send({})
        .expect(409);
      await deliver();
      for (const userid of EVERYONE) expect(received(userid, body)).toHaveLength(3);
    });
  });

  describe('a change notice says what changed', () => {
    it('a longer interview: "duration changed", the two durations, no old and new time', async () => {
      const body = booking({ observers: ['u-emily'] });
      const created = await book(body).expect(201);
      const id = created.body.interview.id;
      await deliver();
      await http()
        .patch(`/api/interviews/${id}`)
        .auth(recruiter, { type: 'bearer' })
        .send({ durationMinutes: 90, version: 1 })
        .expect(200);
      await deliver();
      const when = localTimeWithZone(new Date(body.startsAt), 'Asia/Shanghai');
      const [zh] = received('zhangsan', body).filter((m) => m.msgtype === 'textcard');
      expect(zh.body.textcard!.title).toBe(`面试时长变更：${body.title}`);
      expect(zh.body.textcard!.description).toBe(
        `<div class="gray">${when}</div>` +
          '<div class="highlight">时长：60 分钟 → 90 分钟</div>' +
          '<div class="normal">候选人：王小明</div>',
      );
      const [en] = received('emily', body).filter((m) => m.msgtype === 'textcard');
      expect(en.body.textcard!.title).toBe(`Interview duration changed: ${body.title}`);
      expect(en.body.textcard!.description).toContain('Duration: 60 min → 90 min');
      expect(en.body.textcard!.description).not.toMatch(/Was|Now/);
      for (const userid of EVERYONE) {
        const notices = received(userid, body).filter((m) => m.msgtype === 'textcard');
        // zhaoliu (the recruiter) also holds the booking receipt.
        expect(
          notices.map((m) => m.body.textcard!.title).filter((t) => /变更|changed/.test(t)),
        ).toHaveLength(1);
        expect(JSON.stringify(notices)).not.toMatch(/面试时间变更|Interview moved|原时间/);
      }
    });

    it('a new title and room with an added interviewer: each named, in the reader’s language', async () => {
      const body = booking({ interviewers: ['u-zhang'], observers: ['u-emily'] });
      const created = await book(body).expect(201);
      const id = created.body.interview.id;
      await deliver();
      const title = `${body.title} 改`;
      await http()
        .patch(`/api/interviews/${id}`)
        .auth(recruiter, { type: 'bearer' })
        .send({
          title,
          roomUrl: `${body.roomUrl}-B`,
          interviewers: ['u-zhang', 'u-li'],
          version: 1,
        })
        .expect(200);
      await deliver();
      const [zh] = received('zhangsan', body).filter((m) => m.msgtype === 'textcard');
      expect(zh.body.textcard!.title).toBe(`面试信息更新：${title}`);
      expect(zh.body.textcard!.url).toBe(`${body.roomUrl}-B`);
      expect(zh.body.textcard!.description).toContain(`标题：${body.title} → ${title}`);
      expect(zh.body.textcard!.description).toContain('面试间链接已更换');
      expect(zh.body.textcard!.description).toContain('新加入：u-li');
      expect(zh.body.textcard!.description).not.toMatch(/时长|原时间/);
      const [en] = received('emily', body).filter((m) => m.msgtype === 'textcard');
      expect(en.body.textcard!.title).toBe(`Interview updated: ${title}`);
      expect(en.body.textcard!.description).toContain(`Title: ${body.title} → ${title}`);
      expect(en.body.textcard!.description).toContain('Added: u-li');
      // The added interviewer gets the invitation card, not a change notice.
      expect(received('lisi', body).map((m) => m.msgtype)).toEqual(['template_card']);
    });
  });

  describe('changing who takes part', () => {
    it('invites the added, tells the removed, and leaves the rest alone', async () => {
      const body = booking();
      const created = await book(body).expect(201);
      const id = created.body.interview.id;
      await deliver();
      const res = await http()
        .patch(`/api/interviews/${id}`)
        .auth(recruiter, { type: 'bearer' })
        .send({ interviewers: ['u-zhang', 'u-li'], observers: ['u-emily'], version: 1 })
        .expect(200);
      expect(res.body.interview.version).toBe(2);
      await deliver();
      expect(received('zhangsan', body)).toHaveLength(1);
      expect(received('wangwu', body).map((m) => m.msgtype)).toEqual(['template_card', 'text']);
      expect(received('wangwu', body)[1].body.text!.content).toMatch(/不再参加/);
      expect(received('emily', body).map((m) => m.msgtype)).toEqual(['template_card']);
    });
  });

  describe('round trips', () => {
    /** The statements sent on each query runner (one per transaction) while `work` runs. */
    async function statementsOf(work: () => Promise<unknown>): Promise<string[][]> {
      const original = PostgresQueryRunner.prototype.query;
      const sent = new Map<PostgresQueryRunner, string[]>();
      PostgresQueryRunner.prototype.query = function (
        this: PostgresQueryRunner,
        ...args: Parameters<typeof original>
      ) {
        sent.set(this, [...(sent.get(this) ?? []), args[0].replace(/\s+/g, ' ').trim()]);
        return original.apply(this, args);
      } as typeof original;
      try {
        await work();
      } finally {
        PostgresQueryRunner.prototype.query = original;
      }
      return [...sent.values()];
    }

    it("books in one transaction of three statements of its own: the people's mappings, the interview with its people and reminders, all their messages", async () => {
      const runners = await statementsOf(() =>
        book(
          booking({ observers: ['u-emily'], candidate: { name: 'C', platformUserId: 'c-1' } }),
        ).expect(201),
      );
      const booked = runners.filter((sent) => sent.some((sql) => sql.includes('INTO interviews')));
      expect(booked).toHaveLength(1);
      const [sent] = booked;
      expect(sent[0]).toMatch(/^(START TRANSACTION|BEGIN)/);
      expect(sent.at(-1)).toBe('COMMIT');
      // However the transaction opens and sets its organisation, the booking's own work is these.
      const own = sent.filter(
        (sql) =>
          !/^(START TRANSACTION|BEGIN|COMMIT)|^SELECT set_config\('app\.organization_id'/.test(sql),
      );
      expect(own).toEqual([
        expect.stringContaining('FROM user_mappings'),
        expect.stringMatching(
          /INSERT INTO interviews .*INSERT INTO interview_participants .*INSERT INTO interview_reminders/,
        ),
        expect.stringMatching(/INSERT INTO messages .*INSERT INTO message_recipients/),
      ]);
    });
  });

  describe('validation', () => {
    it.each([
      [{ startsAt: '2026-01-01T10:00:00+08:00' }, /startsAt must be in the future/],
      [{ startsAt: '2026-12-01T10:00:00' }, /startsAt must carry a UTC offset/],
      [{ durationMinutes: 10 }, /durationMinutes must be between 15 and 480/],
      [{ durationMinutes: 481 }, /durationMinutes must be between 15 and 480/],
      [{ interviewers: ['u-zhang', 'u-zhang'] }, /interviewers lists someone twice/],
      [{ observers: ['u-li'] }, /observers must not repeat an interviewer \(u-li/],
      [{ interviewers: [] }, /interviewers must list at least one interviewer/],
      [{ interviewers: undefined }, /interviewers is required/],
      [{ roomUrl: 'http://www.showmebug.com/pads/X' }, /roomUrl must be an https:\/\/ URL/],
      [{ timezone: 'Mars/Olympus_Mons' }, /timezone must be an IANA time zone/],
      [
        { interviewers: Array.from({ length: 21 }, (_, i) => `u-${i}`) },
        /interviewers may list at most 20 people/,
      ],
      [{ title: '' }, /title must be 1-200 characters/],
      [{ candidate: {} }, /candidate.name is required/],
    ])('rejects %j with a 400 that names the field', async (overrides, message) => {
      const res = await book(booking(overrides)).expect(400);
      expect(res.body.detail).toMatch(message);
      // Checks made past the DTO (a time in the past, an observer also an interviewer) are
      // listed under their field like the DTO's own, so a form can show each beside its input.
      const field = Object.keys(overrides)[0];
      expect(res.body.errors).toEqual([
        {
          field: expect.stringMatching(new RegExp(`^${field}`)),
          message: expect.stringMatching(message),
        },
      ]);
    });

    it('checks a change the same way', async () => {
      const created = await book(booking()).expect(201);
      const id = created.body.interview.id;
      const patch = (body: object) =>
        http().patch(`/api/interviews/${id}`).auth(recruiter, { type: 'bearer' }).send(body);
      expect((await patch({ durationMinutes: 5 }).expect(400)).body.errors).toEqual([
        { field: 'durationMinutes', message: 'durationMinutes must be between 15 and 480' },
      ]);
      expect((await patch({ startsAt: '2020-01-01T00:00:00Z' }).expect(400)).body.detail).toMatch(
        /startsAt must be in the future/,
      );
      const garbage = await http()
        .patch(`/api/interviews/${id}`)
        .auth(recruiter, { type: 'bearer' })
        .set('If-Match', 'garbage')
        .send({ title: 'x' })
        .expect(400);
      expect(garbage.body.errors).toEqual([
        { field: 'If-Match', message: 'If-Match must be the interview version, e.g. "3"' },
      ]);
    });
  });

  describe('who sees what', () => {
    let mine: string;
    let theirs: string;

    beforeAll(async () => {
      clock.advance(1000);
      mine = (await book(booking()).expect(201)).body.interview.id;
      clock.advance(1000);
      theirs = (await book(booking({ interviewers: ['u-li'] })).expect(201)).body.interview.id;
    });

    it('lets an interviewer read only the interviews they are on', async () => {
      await http().get(`/api/interviews/${mine}`).auth(zhang, { type: 'bearer' }).expect(200);
      const hidden = await http()
        .get(`/api/interviews/${theirs}`)
        .auth(zhang, { type: 'bearer' })
        .expect(404);
      expect(hidden.body.detail).toBe('Interview not found');
      const list = await http()
        .get('/api/interviews?limit=200&participant=u-li')
        .auth(zhang, { type: 'bearer' })
        .expect(200);
      const ids = list.body.items.map((i: { id: string }) => i.id);
      expect(ids).toContain(mine);
      expect(ids).not.toContain(theirs);
    });

    it('lets only recruiters and admins write', async () => {
      await book(booking(), zhang).expect(403);
      await http()
        .patch(`/api/interviews/${mine}`)
        .auth(zhang, { type: 'bearer' })
        .send({ title: 'x' })
        .expect(403);
      await http()
        .post(`/api/interviews/${mine}/cancel`)
        .auth(zhang, { type: 'bearer' })
        .expect(403);
      await http().get('/api/interviews').expect(401);
    });

    it('lists with filters and a cursor', async () => {
      const first = await http()
        .get('/api/interviews?limit=1&participant=u-li&status=scheduled')
        .auth(recruiter, { type: 'bearer' })
        .expect(200);
      expect(first.body.items).toHaveLength(1);
      expect(first.body.items[0].id).toBe(theirs);
      const second = await http()
        .get(
          `/api/interviews?limit=1&participant=u-li&status=scheduled&cursor=${first.body.nextCursor}`,
        )
        .auth(recruiter, { type: 'bearer' })
        .expect(200);
      expect(second.body.items[0].id).toBe(mine);
      const none = await http()
        .get(`/api/interviews?from=${new Date(clock.nowMs() + 100 * HOUR).toISOString()}`)
        .auth(recruiter, { type: 'bearer' })
        .expect(200);
      expect(none.body.items).toEqual([]);
      await http()
        .get('/api/interviews?from=yesterday')
        .auth(recruiter, { type: 'bearer' })
        .expect(400);
    });

    it('takes an RSVP from interviewers and observers only', async () => {
      const res = await http()
        .post(`/api/interviews/${mine}/rsvp`)
        .auth(zhang, { type: 'bearer' })
        .send({ response: 'accepted' })
        .expect(200);
      expect(res.body).toMatchObject({ platformUserId: 'u-zhang', rsvp: 'accepted' });
      expect(res.body.respondedAt).toBe(clock.now().toISOString());
      await http()
        .post(`/api/interviews/${mine}/rsvp`)
        .auth(recruiter, { type: 'bearer' })
        .send({ response: 'declined' })
        .expect(403);
      await http()
        .post(`/api/interviews/${theirs}/rsvp`)
        .auth(zhang, { type: 'bearer' })
        .send({ response: 'declined' })
        .expect(404);
      await http()
        .post(`/api/interviews/${mine}/rsvp`)
        .auth(zhang, { type: 'bearer' })
        .send({ response: 'maybe' })
        .expect(400);
    });
  });

  describe('reminders', () => {
    it('books no reminder for a lead time already passed', async () => {
      const res = await book(
        booking({ startsAt: new Date(clock.nowMs() + 2 * HOUR).toISOString() }),
      ).expect(201);
      expect(res.body.reminders).toEqual([
        expect.objectContaining({ kind: 'before_start', leadMinutes: 15, state: 'pending' }),
      ]);
    });

    it('reminds every participant 15 minutes before, once', async () => {
      const body = booking({ startsAt: new Date(clock.nowMs() + 2 * HOUR).toISOString() });
      const id = (await book(body).expect(201)).body.interview.id;
      await deliver();
      const due = Date.parse(body.startsAt) - 15 * 60_000;

      clock.set(new Date(due - 1000));
      await reminders.runOnce();
      await deliver();
      const cards = (userid: string) =>
        received(userid, body).filter((m) => m.body.template_card?.card_type === 'text_notice');
      for (const userid of [...Object.values(INTERVIEWERS), 'zhaoliu']) {
        expect(cards(userid)).toHaveLength(0);
      }

      clock.set(new Date(due));
      expect((await reminders.runOnce()).sent).toBeGreaterThanOrEqual(1);
      expect(await reminders.runOnce()).toEqual({ sent: 0, missed: 0, canceled: 0 });
      const lagBefore = await reminderLag();
      clock.advance(3000); // delivered 3 s after it fell due
      await deliver();
      await waitFor(async () => (await reminderLag()).count > lagBefore.count);
      const lag = await reminderLag();
      expect(lag.count - lagBefore.count).toBe(1);
      expect(lag.sum - lagBefore.sum).toBeCloseTo(3, 1);
      for (const userid of [...Object.values(INTERVIEWERS), 'zhaoliu']) {
        const got = cards(userid);
        expect(got).toHaveLength(1);
        expect(got[0].body.template_card!.card_action.url).toBe(body.roomUrl);
        expect(JSON.stringify(got[0].body)).toContain('15 分钟后开始');
      }
      const after = await http()
        .get(`/api/interviews/${id}`)
        .auth(recruiter, { type: 'bearer' })
        .expect(200);
      expect(after.body.reminders[0]).toMatchObject({
        state: 'sent',
        messageId: expect.any(String),
      });
    });

    it('marks a reminder missed when its interview has already started', async () => {
      const body = booking({ startsAt: new Date(clock.nowMs() + HOUR).toISOString() });
      const id = (await book(body).expect(201)).body.interview.id;
      await deliver();
      clock.set(new Date(Date.parse(body.startsAt) + 60_000)); // the service was down
      const run = await reminders.runOnce();
      expect(run.missed).toBeGreaterThanOrEqual(1);
      await deliver();
      expect(
        received('zhangsan', body).filter((m) => m.body.template_card?.card_type === 'text_notice'),
      ).toHaveLength(0);
      const after = await http()
        .get(`/api/interviews/${id}`)
        .auth(recruiter, { type: 'bearer' })
        .expect(200);
      expect(after.body.reminders[0]).toMatchObject({ state: 'missed', messageId: null });
    });
  });

  // Runs last: covers every card and message the tests above made WeCom deliver.
  it('sends each card with only the fields its card type documents, nothing cut short', () => {
    const members = ['zhangsan', 'lisi', 'wangwu', 'zhaoliu', 'emily'];
    const sent = members.flatMap((m) => sim.messagesFor(m));
    const kinds = new Set(
      sent.map((m) => {
        const body = m.body as { template_card?: { card_type?: string } };
        return body.template_card?.card_type ?? m.msgtype;
      }),
    );
    expect([...kinds].sort()).toEqual(
      expect.arrayContaining(['button_interaction', 'text', 'text_notice', 'textcard']),
    );
    expect(sim.stats()).toMatchObject({ undocumentedFields: {}, truncated: 0, dropped: 0 });
  });
});

describe('Interview reminders with other lead times and a feedback nudge (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    app = await createTestApp(
      {
        ...db.env,
        ...simulatorEnv(sim.url),
        REMINDER_LEAD_TIMES_MIN: '15,60',
        FEEDBACK_NUDGE_MIN: '30',
      },
      { clock },
    );
    const admin = await tokenFor('admin-1', 'admin');
    await request(app.getHttpServer())
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u-zhang', wecomUserId: 'zhangsan' })
      .expect(201);
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('sends only the latest of several overdue reminders, then nudges for feedback', async () => {
    const startsAt = new Date(clock.nowMs() + 2 * HOUR);
    const res = await request(app.getHttpServer())
      .post('/api/interviews')
      .auth(await tokenFor('rec-1', 'recruiter'), { type: 'bearer' })
      .send({
        title: '后端工程师 一面',
        candidate: { name: '李雷' },
        startsAt: startsAt.toISOString(),
        durationMinutes: 45,
        roomUrl: 'https://www.showmebug.com/pads/NUDGE',
        interviewers: ['u-zhang'],
      })
      .expect(201);
    expect(
      res.body.reminders.map((r: { kind: string; leadMinutes: number; dueAt: string }) => [
        r.kind,
        r.leadMinutes,
        r.dueAt,
      ]),
    ).toEqual([
      ['before_start', 60, new Date(startsAt.getTime() - HOUR).toISOString()],
      ['before_start', 15, new Date(startsAt.getTime() - 15 * 60_000).toISOString()],
      ['feedback', 30, new Date(startsAt.getTime() + 75 * 60_000).toISOString()],
    ]);
    const scheduler = app.get(ReminderScheduler);
    const dispatcher = app.get(MessageDispatcher);

    // Down for an hour: both lead times are due at once; the one-hour reminder is stale.
    clock.set(new Date(startsAt.getTime() - 10 * 60_000));
    expect(await scheduler.runOnce()).toEqual({ sent: 1, missed: 1, canceled: 0 });
    clock.set(new Date(startsAt.getTime() + 75 * 60_000));
    expect(await scheduler.runOnce()).toEqual({ sent: 1, missed: 0, canceled: 0 });
    await dispatcher.drain();
    const got = sim.messagesFor('zhangsan').map((m) => m.body as Body);
    expect(got.filter((b) => b.template_card?.card_type === 'text_notice')).toHaveLength(1);
    expect(got.filter((b) => b.textcard?.title === '请提交面试反馈：后端工程师 一面')).toHaveLength(
      1,
    );
  });
});

describeWithServer('Due reminders at scale (PostgreSQL server)', () => {
  let db: TestDatabase;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase();
    // As the owner: a million rows of fixtures and ANALYZE (which only the owner may run).
    ds = await new DataSource(
      buildDataSourceOptions({ url: db.ownerUrl, poolSize: 2 }),
    ).initialize();
    await ds.runMigrations();
  });

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it('finds what is due through the partial index among a million reminders', async () => {
    await sqlInOrganization(ds, async (m) => {
      await m.query(`
      INSERT INTO interviews (title, candidate_name, starts_at, duration_minutes, room_url, created_by)
      SELECT 'bulk ' || g, '候选人', now() + g * interval '1 hour', 60,
             'https://www.showmebug.com/pads/B' || g, 'bulk'
        FROM generate_series(1, 100) g`);
      // A million reminders, most of them history (sent); one in fifty still pending.
      await m.query(`
      INSERT INTO interview_reminders (interview_id, kind, lead_minutes, due_at, state)
      SELECT ids[1 + g % 100], 'before_start', g,
             now() - interval '30 days' + g * interval '5 seconds',
             CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'sent' END
        FROM generate_series(1, 1000000) g, (SELECT array_agg(id) AS ids FROM interviews) i`);
    });
    await ds.query('ANALYZE interview_reminders');
    const [{ 'QUERY PLAN': plan }] = await sqlInOrganization(ds, (m) =>
      m.query(`EXPLAIN (FORMAT JSON) ${DUE_REMINDERS_SQL}`, [new Date(), 100]),
    );
    const nodes: { 'Node Type': string; 'Index Name'?: string; 'Relation Name'?: string }[] = [];
    const walk = (n: Record<string, unknown>) => {
      nodes.push(n as never);
      for (const child of (n.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    walk(plan[0].Plan);
    expect(nodes).toContainEqual(
      expect.objectContaining({
        'Node Type': expect.stringMatching(/Index Scan|Index Only Scan|Bitmap Index Scan/),
        'Index Name': 'interview_reminders_due_idx',
      }),
    );
    expect(
      nodes.filter(
        (n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'interview_reminders',
      ),
    ).toEqual([]);
    const due = await sqlInOrganization(ds, (m) => m.query(DUE_REMINDERS_SQL, [new Date(), 100]));
    expect(due).toHaveLength(100);
  }, 120_000);
});
