import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

import type { INestApplication } from '@nestjs/common';

import {
  createClient,
  type ApiClient,
  type ProblemDetails,
  type Schemas,
} from '../clients/typescript/index.js';
import { DEFAULT_ORGANIZATION } from '../src/organizations/organization.js';
import { ManualClock } from '../src/common/clock.js';
import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import { WeComClient } from '../src/wecom/client/wecom.client.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { createTestApp, simulatorEnv, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

/**
 * The frontend's whole flow through the generated client (clients/typescript), against the app
 * listening on a port: what the document promises is what a typed caller can do. Everything
 * here is typed by the client alone (the last test checks: no casts, no `any`).
 */

/** The data of a 2xx answer from openapi-fetch; any other answer fails the test, saying why. */
function ok<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.data === undefined) {
    throw new Error(`${answer.response.status}: ${JSON.stringify(answer.error)}`);
  }
  return answer.data;
}

const HOUR = 3600_000;
const MAPPINGS: Schemas['CreateUserMappingDto'][] = [
  { platformUserId: 'u-zhang', wecomUserId: 'zhangsan' },
  { platformUserId: 'u-li', wecomUserId: 'lisi' },
  { platformUserId: 'u-wang', wecomUserId: 'wangwu' },
  { platformUserId: 'rec-1', wecomUserId: 'zhaoliu', language: 'zh' },
];

// On a PostgreSQL server only, for now: booking reads the mappings outside its transaction (a
// second connection), which an in-memory PGlite, one connection at a time, never hands out while
// the transaction holds it. Once repositories join the transaction (#19), this can be `describe`.
describe('The typed client (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let admin: ApiClient;
  let recruiter: ApiClient;
  let zhang: ApiClient;

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) }, { clock });
    app.get(WeComClient).backoff = { maxRetries: 1, baseDelayMs: 5, maxDelayMs: 10 };
    await app.listen(0, '127.0.0.1');
    const server: Server = app.getHttpServer();
    const address: AddressInfo | string | null = server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
    const baseUrl = `http://127.0.0.1:${address.port}`;
    const clientFor = (token: string) => createClient({ baseUrl, token: () => token });
    admin = clientFor(await tokenFor('admin-1', 'admin'));
    recruiter = clientFor(await tokenFor('rec-1', 'recruiter'));
    zhang = clientFor(await tokenFor('u-zhang', 'interviewer'));
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  // Keeps every member inside WeCom's 30-a-minute pacing between tests.
  beforeEach(() => clock.advance(61_000));

  /** Runs the dispatcher until nothing is due, moving the clock past pacing delays. */
  async function deliverAll(): Promise<void> {
    for (let i = 0; i < 5; i++) {
      await app.get(MessageDispatcher).drain();
      clock.advance(61_000);
    }
  }

  it('reads who the caller is from /api/me', async () => {
    const me = ok(await recruiter.GET('/api/me'));
    expect(me).toEqual({
      id: 'rec-1',
      roles: ['recruiter'],
      organization: { ...DEFAULT_ORGANIZATION, name: 'Default' },
    });
  });

  it('maps users and pages through the mappings by following the cursor', async () => {
    for (const body of MAPPINGS) {
      const mapping = ok(await admin.POST('/api/user-mappings', { body }));
      expect(mapping).toMatchObject({ platformUserId: body.platformUserId, status: 'active' });
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = ok(
        await recruiter.GET('/api/user-mappings', { params: { query: { limit: 3, cursor } } }),
      );
      seen.push(...page.items.map((m) => m.platformUserId));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor !== undefined);
    expect(pages).toBe(2);
    expect(seen.sort()).toEqual(MAPPINGS.map((m) => m.platformUserId).sort());
  });

  it('books, reads, changes, answers and cancels an interview', async () => {
    const booked = ok(
      await recruiter.POST('/api/interviews', {
        body: {
          title: '前端工程师 二面',
          candidate: { name: '王小明', email: 'wangxm@example.com' },
          startsAt: new Date(clock.nowMs() + 48 * HOUR).toISOString(),
          durationMinutes: 60,
          timezone: 'Asia/Shanghai',
          roomUrl: 'https://www.showmebug.com/pads/AB12CD',
          interviewers: ['u-zhang'],
          observers: ['u-li'],
        },
      }),
    );
    const id = booked.interview.id;
    expect(booked.participants.map((p) => [p.platformUserId, p.role, p.wecom])).toEqual(
      expect.arrayContaining([
        ['u-zhang', 'interviewer', 'active'],
        ['u-li', 'observer', 'active'],
      ]),
    );

    const read = ok(await zhang.GET('/api/interviews/{id}', { params: { path: { id } } }));
    expect(read.interview).toMatchObject({ id, title: '前端工程师 二面', status: 'scheduled' });

    const changed = ok(
      await recruiter.PATCH('/api/interviews/{id}', {
        params: { path: { id } },
        body: { title: '前端工程师 终面', durationMinutes: 90, version: read.interview.version },
      }),
    );
    expect(changed.interview).toMatchObject({
      title: '前端工程师 终面',
      durationMinutes: 90,
      version: read.interview.version + 1,
    });

    const stale = await recruiter.PATCH('/api/interviews/{id}', {
      params: { path: { id } },
      body: { title: '前端工程师 三面', version: read.interview.version },
    });
    expect(stale.response.status).toBe(409);
    // Every error answer is typed as problem details.
    const conflict: ProblemDetails | undefined = stale.error;
    expect(conflict).toMatchObject({
      type: 'urn:showmebug-wecom:problem:version-conflict',
      status: 409,
      version: read.interview.version + 1,
    });

    // Optimistic concurrency the HTTP way: the ETag, sent back as If-Match.
    const current = await recruiter.GET('/api/interviews/{id}', { params: { path: { id } } });
    const etag = current.response.headers.get('etag') ?? 'missing';
    expect(etag).toBe(`"${changed.interview.version}"`);
    const viaEtag = await recruiter.PATCH('/api/interviews/{id}', {
      params: { path: { id }, header: { 'If-Match': etag } },
      body: { roomUrl: 'https://www.showmebug.com/pads/EF34GH' },
    });
    expect(viaEtag.response.status).toBe(200);
    expect(viaEtag.response.headers.get('etag')).toBe(`"${changed.interview.version + 1}"`);
    const precondition = await recruiter.PATCH('/api/interviews/{id}', {
      params: { path: { id }, header: { 'If-Match': etag } },
      body: { roomUrl: 'https://www.showmebug.com/pads/IJ56KL' },
    });
    expect(precondition.response.status).toBe(412);
    const refused: ProblemDetails | undefined = precondition.error;
    expect(refused).toMatchObject({
      type: 'urn:showmebug-wecom:problem:precondition-failed',
      status: 412,
      version: changed.interview.version + 1,
    });

    const answer = ok(
      await zhang.POST('/api/interviews/{id}/rsvp', {
        params: { path: { id } },
        body: { response: 'accepted' },
      }),
    );
    expect(answer).toMatchObject({ platformUserId: 'u-zhang', rsvp: 'accepted' });

    const canceled = ok(
      await recruiter.POST('/api/interviews/{id}/cancel', {
        params: { path: { id } },
        body: { reason: '候选人已接受其他 offer' },
      }),
    );
    expect(canceled.interview).toMatchObject({
      status: 'canceled',
      cancelReason: '候选人已接受其他 offer',
    });

    const messages = ok(
      await recruiter.GET('/api/interviews/{id}/messages', { params: { path: { id } } }),
    );
    expect(messages.length).toBeGreaterThan(0);
  });

  it('sends each message type and pages through the history', async () => {
    const to: Schemas['SendTextMessageDto']['to'] = [
      { platformUserId: 'u-wang' },
      { wecomUserId: 'lisi' },
    ];
    const sent = [
      ok(
        await recruiter.POST('/api/messages', {
          body: { to, msgtype: 'text', text: { content: '面试提醒：明天 10:00' } },
        }),
      ),
      ok(
        await recruiter.POST('/api/messages', {
          body: { to, msgtype: 'markdown', markdown: { content: '**面试提醒**\n> 明天 10:00' } },
        }),
      ),
      ok(
        await recruiter.POST('/api/messages', {
          body: {
            to,
            msgtype: 'textcard',
            textcard: {
              title: '面试邀请',
              description: '<div class="gray">2026-11-25</div><div class="normal">二面</div>',
              url: 'https://www.showmebug.com/pads/AB12CD',
              btntxt: '详情',
            },
          },
        }),
      ),
      ok(
        await recruiter.POST('/api/messages', {
          body: {
            to,
            msgtype: 'news',
            news: {
              articles: [
                { title: '面试安排', url: 'https://example.com/i/42', description: '明天 10:00' },
              ],
            },
          },
        }),
      ),
      ok(
        await recruiter.POST('/api/messages', {
          body: {
            to,
            msgtype: 'template_card',
            template_card: {
              card_type: 'button_interaction',
              main_title: { title: '面试邀请', desc: '前端工程师 二面' },
              task_id: 'typed-client-card-1',
              button_list: [
                { text: '接受', style: 1, key: 'accept' },
                { text: '拒绝', style: 2, key: 'decline' },
              ],
            },
          },
        }),
      ),
    ];
    expect(sent.map((m) => m.msgtype)).toEqual([
      'text',
      'markdown',
      'textcard',
      'news',
      'template_card',
    ]);

    await deliverAll();
    for (const userid of ['wangwu', 'lisi']) {
      const received = sim.messagesFor(userid).map((m) => m.msgtype);
      expect(received).toEqual(
        expect.arrayContaining(['text', 'markdown', 'textcard', 'news', 'template_card']),
      );
    }

    const one = ok(
      await recruiter.GET('/api/messages/{id}', { params: { path: { id: sent[0].id } } }),
    );
    expect(one.status).toBe('sent');
    expect(one.content).toEqual({ content: '面试提醒：明天 10:00' });

    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = ok(
        await recruiter.GET('/api/messages', {
          params: { query: { kind: 'api.message', limit: 2, cursor } },
        }),
      );
      ids.push(...page.items.map((m) => m.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    expect(ids).toHaveLength(5);
    expect(new Set(ids)).toEqual(new Set(sent.map((m) => m.id)));
  });

  it('reads and patches the admin configuration', async () => {
    const before = ok(await admin.GET('/api/admin/config'));
    expect(before.corpSecret.set).toBe(true);
    expect(before.token.status).toBe('ok');

    const after = ok(
      await admin.PATCH('/api/admin/config', {
        body: { reminderLeadTimesMin: [30, 1440], defaultLanguage: 'en' },
      }),
    );
    expect(after).toMatchObject({
      reminderLeadTimesMin: [30, 1440],
      defaultLanguage: 'en',
      version: before.version + 1,
    });

    const audit = ok(await admin.GET('/api/admin/audit', { params: { query: { limit: 1 } } }));
    expect(audit.items[0]?.fields).toEqual(
      expect.arrayContaining(['reminderLeadTimesMin', 'defaultLanguage']),
    );

    const forbidden = await recruiter.GET('/api/admin/config');
    expect(forbidden.response.status).toBe(403);
  });

  it('reads /health without a token', async () => {
    const anonymous = createClient({ baseUrl: `http://127.0.0.1:${listeningPort()}` });
    const health = ok(await anonymous.GET('/health'));
    expect(health).toMatchObject({ status: 'ok', db: { status: 'up' } });
  });

  // -- end of flow --

  it('is typed by the client alone: no casts and no any above', () => {
    const flow = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('// -- end of flow')[0];
    const code = flow.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    expect(code).not.toMatch(/\)\s*as\s|\w\s+as\s+(?!const\b)[A-Za-z{[(]/);
    expect(code).not.toMatch(/\bany\b/);
    expect(code).not.toMatch(/<[A-Za-z]+>\s*\w/); // angle-bracket casts
  });

  function listeningPort(): number {
    const address: AddressInfo | string | null = app.getHttpServer().address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    return address.port;
  }
});
