import { randomUUID } from 'node:crypto';

import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DataSource } from 'typeorm';

import { ManualClock } from '../../src/common/clock.js';
import { MessageDispatcher } from '../../src/messaging/message-dispatcher.js';
import { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { sqlInOrganization } from '../support/organization-sql.js';
import { createTestApp, simulatorEnv, tokenFor } from '../support/test-app.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { concretePath, controllerRoutes } from './route-inventory.js';

const HOUR = 3600_000;
const SEND = '/cgi-bin/message/send';
const cursorOf = (text: string) => Buffer.from(text).toString('base64url');
/** `{"a":{"a":…1…}}`, `levels` objects deep, as raw JSON text. */
const deepJson = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);

/**
 * The attacks of issue #18 (failures 1 and 2) against the running app: a company-wide
 * broadcast through `@all`, and input that used to pass validation and then fail as a 500
 * (in PostgreSQL or in a recursion). Each must be a 400 that names what is wrong, and nothing
 * may reach WeCom or the database.
 */
describe('Hostile input is a 400, never a broadcast or a 500 (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let admin: string;
  let recruiter: string;
  let interviewId: string;
  const http = () => request(app.getHttpServer());
  /** Counted as the owner: every stored row, whatever the service's role may see. */
  const count = async (table: string) =>
    (await db.ownerQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n;
  const sends = () => sim.stats().calls[SEND] ?? 0;

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) }, { clock });
    admin = await tokenFor('admin-1', 'admin');
    recruiter = await tokenFor('rec-1', 'recruiter');
    await http()
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u-zhang', wecomUserId: 'zhangsan' })
      .expect(201);
    const res = await http()
      .post('/api/interviews')
      .auth(recruiter, { type: 'bearer' })
      .send({
        title: '后端工程师 一面',
        candidate: { name: '李雷' },
        startsAt: new Date(clock.nowMs() + 48 * HOUR).toISOString(),
        durationMinutes: 45,
        roomUrl: 'https://www.showmebug.com/pads/BAD1',
        interviewers: ['u-zhang'],
      })
      .expect(201);
    interviewId = res.body.interview.id as string;
    await app.get(MessageDispatcher).drain();
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  describe('failure 1: a message never addresses the whole company or several people as one', () => {
    const text = { msgtype: 'text', text: { content: '全员通知' } };

    it.each([
      ['@all', { to: [{ wecomUserId: '@all' }], ...text }, 'to[0].wecomUserId'],
      ['@ALL', { to: [{ wecomUserId: '@ALL' }], ...text }, 'to[0].wecomUserId'],
      [
        '@All second',
        { to: [{ wecomUserId: 'zhangsan' }, { wecomUserId: '@All' }], ...text },
        'to[1].wecomUserId',
      ],
      ['a|b', { to: [{ wecomUserId: 'zhangsan|lisi' }], ...text }, 'to[0].wecomUserId'],
      ['empty', { to: [{ wecomUserId: '' }], ...text }, 'to[0].wecomUserId'],
      ['whitespace', { to: [{ wecomUserId: ' zhangsan' }], ...text }, 'to[0].wecomUserId'],
      ['65 characters', { to: [{ wecomUserId: 'a'.repeat(65) }], ...text }, 'to[0].wecomUserId'],
      [
        'text.touser',
        {
          to: [{ wecomUserId: 'zhangsan' }],
          msgtype: 'text',
          text: { content: 'x', touser: '@all' },
        },
        'text.touser',
      ],
      [
        'text.safe',
        { to: [{ wecomUserId: 'zhangsan' }], msgtype: 'text', text: { content: 'x', safe: 1 } },
        'text.safe',
      ],
      [
        'a top-level touser',
        { to: [{ wecomUserId: 'zhangsan' }], touser: '@all', ...text },
        'touser',
      ],
      [
        'a nested unknown key in a card',
        {
          to: [{ wecomUserId: 'zhangsan' }],
          msgtype: 'template_card',
          template_card: {
            card_type: 'button_interaction',
            task_id: 'T1',
            main_title: { title: '面试邀请', toparty: '1' },
            button_list: [{ text: '接受', key: 'k', touser: '@all' }],
          },
        },
        'template_card.button_list[0].touser',
      ],
      [
        'a news article with an extra key',
        {
          to: [{ wecomUserId: 'zhangsan' }],
          msgtype: 'news',
          news: { articles: [{ title: 't', url: 'https://example.com', totag: '1' }] },
        },
        'news.articles[0].totag',
      ],
    ])(
      '%s as a recruiter: 400 naming the field; WeCom and the database get nothing',
      async (_, body, field) => {
        const sendsBefore = sends();
        const res = await http()
          .post('/api/messages')
          .auth(recruiter, { type: 'bearer' })
          .send(body)
          .expect(400);
        expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
        await app.get(MessageDispatcher).drain();
        expect(sends()).toBe(sendsBefore);
        expect(sim.messagesFor('@all')).toEqual([]);
        expect(await count("messages WHERE kind = 'api.message'")).toBe(0);
        expect(
          await count(
            "message_recipients WHERE wecom_user_id LIKE '%@%' OR wecom_user_id LIKE '%|%'",
          ),
        ).toBe(0);
      },
    );

    it('a template card cannot name @all as the member it shows', async () => {
      const res = await http()
        .post('/api/messages')
        .auth(recruiter, { type: 'bearer' })
        .send({
          to: [{ wecomUserId: 'zhangsan' }],
          msgtype: 'template_card',
          template_card: {
            card_type: 'text_notice',
            main_title: { title: '面试' },
            card_action: { type: 1, url: 'https://example.com' },
            horizontal_content_list: [{ keyname: '面试官', value: 'x', type: 3, userid: '@all' }],
          },
        })
        .expect(400);
      expect(JSON.stringify(res.body.errors)).toContain(
        'template_card.horizontal_content_list[0].userid',
      );
    });

    it('a real userid with the characters WeCom allows still goes out', async () => {
      sim.addUsers([{ userid: 'Li.Lei-2@corp_x', name: '李雷' }]);
      const res = await http()
        .post('/api/messages')
        .auth(recruiter, { type: 'bearer' })
        .send({ to: [{ wecomUserId: 'Li.Lei-2@corp_x' }], ...text, idempotencyKey: 'ok-1' })
        .expect(202);
      await app.get(MessageDispatcher).drain();
      expect(sim.messagesFor('Li.Lei-2@corp_x')).toHaveLength(1);
      await db.ownerQuery('DELETE FROM messages WHERE id = $1', [res.body.id]);
    });

    it('a mapping to @all stored before the rule is no recipient: nothing is sent', async () => {
      const ds = app.get(DataSource);
      await sqlInOrganization(ds, (m) =>
        m.query(
          `INSERT INTO user_mappings (corp_id, platform_user_id, wecom_user_id, source, language)
           VALUES ('ww-sandbox', 'u-legacy', '@ALL', 'admin', 'zh')`,
        ),
      );
      const sendsBefore = sends();
      const res = await http()
        .post('/api/messages')
        .auth(recruiter, { type: 'bearer' })
        .send({ to: [{ platformUserId: 'u-legacy' }], ...text, idempotencyKey: 'legacy-1' })
        .expect(202);
      await app.get(MessageDispatcher).drain();
      expect(sends()).toBe(sendsBefore);
      expect(res.body.status).toBe('skipped');
      const recipients = await db.ownerQuery(
        'SELECT platform_user_id, wecom_user_id, status FROM message_recipients WHERE message_id = $1',
        [res.body.id],
      );
      expect(recipients).toEqual([
        { platform_user_id: 'u-legacy', wecom_user_id: null, status: 'no_mapping' },
      ]);
      await db.ownerQuery('DELETE FROM messages WHERE id = $1', [res.body.id]);
      await db.ownerQuery("DELETE FROM user_mappings WHERE platform_user_id = 'u-legacy'");
    });

    it.each(['@all', '@ALL', 'a|b', ''])('a user mapping to %p is refused', async (wecomUserId) => {
      const res = await http()
        .post('/api/user-mappings')
        .auth(admin, { type: 'bearer' })
        .send({ platformUserId: 'u-evil', wecomUserId })
        .expect(400);
      expect(JSON.stringify(res.body.errors)).toContain('wecomUserId');
      expect(await count("user_mappings WHERE platform_user_id = 'u-evil'")).toBe(0);
    });
  });

  describe('failure 2: query parameters', () => {
    const get = (path: string, query: string) =>
      http().get(`${path}?${query}`).auth(admin, { type: 'bearer' });

    it.each([
      ['/api/messages', 'since=abc', 'since'],
      ['/api/messages', 'since=2020-13-45', 'since'],
      ['/api/messages', 'since=99999999999999999', 'since'],
      ['/api/messages', 'since=2026-01-01T00:00:00Z&since=2026-01-02T00:00:00Z', 'since'],
      ['/api/messages', 'since=-271821-04-20T00:00:00Z', 'since'],
      ['/api/messages', 'since=0001-01-01T00:00:00Z', 'since'],
      ['/api/messages', `interviewId=${'-'.repeat(36)}`, 'interviewId'],
      ['/api/messages', 'limit=abc', 'limit'],
      ['/api/messages', 'limit=1&limit=2', 'limit'],
      ['/api/messages', 'limit=1e400', 'limit'],
      ['/api/messages', 'status=queued&status=sent', 'status'],
      ['/api/messages', 'cursor=a&cursor=b', 'cursor'],
      ['/api/interviews', 'from=-271821-04-20T00:00:00Z', 'from'],
      ['/api/interviews', 'from=275760-09-13T00:00:00Z', 'from'],
      ['/api/interviews', 'to=abc', 'to'],
      ['/api/interviews', 'to=2026-02-30T00:00:00Z', 'to'],
      ['/api/interviews', 'from=2026-01-01T00:00:00Z&from=2026-01-02T00:00:00Z', 'from'],
      ['/api/interviews', 'limit=-1', 'limit'],
      ['/api/user-mappings', 'limit=0', 'limit'],
      ['/api/user-mappings', 'wecomUserId=@all', 'wecomUserId'],
      ['/api/admin/audit', 'limit=99999999999999999999', 'limit'],
    ])('GET %s?%s is a 400 naming %s', async (path, query, field) => {
      const res = await get(path, query).expect(400);
      expect(JSON.stringify(res.body.errors)).toContain(field);
    });

    const forged = [
      ['a time PostgreSQL cannot hold', cursorOf(`-271821-04-20T00:00:00.000Z|${randomUUID()}`)],
      ['year 200000', cursorOf(`+200000-01-01T00:00:00.000Z|${randomUUID()}`)],
      ['36 dashes for the id', cursorOf(`2026-11-23T02:00:00.000Z|${'-'.repeat(36)}`)],
      ['an id that is no uuid', cursorOf(`2026-11-23T02:00:00.000Z|${'g'.repeat(36)}`)],
      ['a third part', cursorOf(`2026-11-23T02:00:00.000Z|${randomUUID()}|x`)],
    ];
    it.each(['/api/messages', '/api/interviews', '/api/user-mappings', '/api/admin/audit'])(
      'GET %s with a forged cursor is a 400',
      async (path) => {
        for (const [what, cursor] of forged) {
          const res = await get(path, `cursor=${cursor}`);
          expect({ what, status: res.status, message: res.body.detail }).toEqual({
            what,
            status: 400,
            message: 'cursor is not one this API returned',
          });
        }
      },
    );

    it('a cursor the API returned still pages', async () => {
      const first = await get('/api/messages', 'limit=1').expect(200);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      await get('/api/messages', `limit=1&cursor=${first.body.nextCursor}`).expect(200);
      await get('/api/messages', 'since=2026-11-01T00:00:00%2B08:00').expect(200);
      await get('/api/interviews', 'from=2026-11-01&to=2026-12-01T00:00:00Z').expect(200);
    });

    it.each([
      ['/api/messages', 'kind=a%00b', 'kind'],
      ['/api/interviews', 'participant=u%00', 'participant'],
      ['/api/messages', 'cursor=%ED%A0%80', 'cursor'],
    ])('GET %s?%s (NUL or a broken UTF-8 sequence) is a 400', async (path, query, field) => {
      const res = await get(path, query).expect(400);
      expect(JSON.stringify(res.body.errors)).toContain(field);
    });
  });

  describe('failure 2: NUL and lone surrogates in text', () => {
    const bad: [string, string][] = [
      ['U+0000', 'a\u0000b'],
      ['a lone high surrogate', 'a\ud800b'],
      ['a lone low surrogate', '\udc00'],
    ];
    const newInterview = (patch: Record<string, unknown>) => ({
      title: '二面',
      candidate: { name: '韩梅梅' },
      startsAt: new Date(clock.nowMs() + 72 * HOUR).toISOString(),
      durationMinutes: 60,
      roomUrl: 'https://www.showmebug.com/pads/BAD2',
      interviewers: ['u-zhang'],
      ...patch,
    });

    const cases = (s: string): [string, string, object, string][] => [
      [
        'POST',
        '/api/messages',
        { to: [{ wecomUserId: 'zhangsan' }], msgtype: 'text', text: { content: s } },
        'text.content',
      ],
      [
        'POST',
        '/api/messages',
        {
          to: [{ wecomUserId: 'zhangsan' }],
          msgtype: 'textcard',
          textcard: { title: s, description: 'd', url: 'https://example.com' },
        },
        'textcard.title',
      ],
      [
        'POST',
        '/api/messages',
        {
          to: [{ wecomUserId: 'zhangsan' }],
          msgtype: 'text',
          text: { content: 'x', [`k${s}`]: 1 },
        },
        'a key in text',
      ],
      ['POST', '/api/interviews', newInterview({ title: s }), 'title'],
      ['POST', '/api/interviews', newInterview({ candidate: { name: s } }), 'candidate.name'],
      ['POST', '/api/interviews', newInterview({ position: s }), 'position'],
      ['POST', '/api/interviews', newInterview({ [`extra${s}`]: 1 }), 'a key in request body'],
      ['PATCH', `/api/interviews/:id`, { title: s }, 'title'],
      ['POST', `/api/interviews/:id/cancel`, { reason: s }, 'reason'],
      [
        'POST',
        '/api/user-mappings',
        { platformUserId: 'u-x', wecomUserId: `x${s}` },
        'wecomUserId',
      ],
    ];

    it.each(bad)('%s in any text field or key: 400 naming it, nothing stored', async (_, s) => {
      const before = {
        messages: await count('messages'),
        interviews: await count('interviews'),
        mappings: await count('user_mappings'),
      };
      const version = (
        await http()
          .get(`/api/interviews/${interviewId}`)
          .auth(admin, { type: 'bearer' })
          .expect(200)
      ).body.interview.version as number;
      for (const [method, pattern, body, field] of cases(s)) {
        const path = pattern.replace(':id', interviewId);
        const verb = method === 'POST' ? 'post' : 'patch';
        const client = http();
        const res = await client[verb](path)
          .auth(admin, { type: 'bearer' })
          .set('If-Match', String(version))
          .send(body);
        expect({ method, path, field, status: res.status }).toEqual({
          method,
          path,
          field,
          status: 400,
        });
        expect(JSON.stringify(res.body.errors)).toContain(field);
      }
      const got = await http()
        .get(`/api/interviews/${interviewId}`)
        .auth(admin, { type: 'bearer' })
        .expect(200);
      expect(got.body.interview).toMatchObject({
        title: '后端工程师 一面',
        status: 'scheduled',
        version,
      });
      expect({
        messages: await count('messages'),
        interviews: await count('interviews'),
        mappings: await count('user_mappings'),
      }).toEqual(before);
    });
  });

  describe('failure 2: dates PostgreSQL or a reader cannot use', () => {
    it.each(['0001-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '+275760-09-13T00:00:00Z'])(
      'an interview starting at %s is a 400',
      async (startsAt) => {
        const res = await http()
          .post('/api/interviews')
          .auth(recruiter, { type: 'bearer' })
          .send({
            title: '三面',
            candidate: { name: '王五' },
            startsAt,
            durationMinutes: 60,
            roomUrl: 'https://www.showmebug.com/pads/BAD3',
            interviewers: ['u-zhang'],
          })
          .expect(400);
        expect(JSON.stringify(res.body.errors)).toContain('startsAt');
      },
    );
  });

  describe('failure 2: JSON nested 5000 deep', () => {
    it('on every route that takes a body: a 400 naming the depth, never a 500', async () => {
      const writes = controllerRoutes(app).filter((r) =>
        ['POST', 'PUT', 'PATCH'].includes(r.method),
      );
      expect(writes.length).toBeGreaterThanOrEqual(8);
      const statuses: Record<string, number> = {};
      for (const route of writes) {
        const verb = route.method.toLowerCase() as 'post' | 'put' | 'patch';
        const client = http();
        const res = await client[verb](concretePath(route.path, interviewId))
          .auth(admin, { type: 'bearer' })
          .set('Content-Type', 'application/json')
          .send(deepJson(5000));
        statuses[`${route.method} ${route.path}`] = res.status;
        expect({ route: `${route.method} ${route.path}`, server: res.status >= 500 }).toEqual({
          route: `${route.method} ${route.path}`,
          server: false,
        });
      }
      // The routes with a JSON body answer the depth itself (the others ignore the body or
      // refuse the caller before reading it).
      for (const key of [
        'POST /api/messages',
        'POST /api/interviews',
        'PATCH /api/interviews/:id',
        'POST /api/user-mappings',
        'PUT /api/admin/config',
        'PATCH /api/admin/config',
      ]) {
        expect({ key, status: statuses[key] }).toEqual({ key, status: 400 });
      }
      const res = await http()
        .post('/api/messages')
        .auth(admin, { type: 'bearer' })
        .set('Content-Type', 'application/json')
        .send(`{"to":[{"wecomUserId":"zhangsan"}],"msgtype":"text","text":${deepJson(5000)}}`)
        .expect(400);
      expect(res.body.detail).toMatch(/nested more than 32 levels/);
    });

    it('33 levels is refused, a body inside the limit is judged on its fields', async () => {
      await http()
        .post('/api/messages')
        .auth(admin, { type: 'bearer' })
        .set('Content-Type', 'application/json')
        .send(`{"to":[],"msgtype":"text","text":${deepJson(31)}}`)
        .expect(400)
        .expect((r) => expect(JSON.stringify(r.body.errors)).not.toMatch(/nested/));
      await http()
        .post('/api/messages')
        .auth(admin, { type: 'bearer' })
        .set('Content-Type', 'application/json')
        .send(`{"to":[],"msgtype":"text","text":${deepJson(32)}}`)
        .expect(400)
        .expect((r) => expect(r.body.detail).toMatch(/nested more than 32 levels/));
    });
  });
});
