import type { AddressInfo } from 'node:net';

import type { INestApplication } from '@nestjs/common';
import * as wecom from '@wecom/crypto';
import { decodeJwt } from 'jose';
import request from 'supertest';

import { AdminConfigService } from '../src/admin/admin-config.service.js';
import { ManualClock } from '../src/common/clock.js';
import { organizationScope, type OrganizationScope } from '../src/common/organization-scope.js';
import type { CreateInterviewDto } from '../src/interviews/dto/create-interview.dto.js';
import { InterviewsService } from '../src/interviews/interviews.service.js';
import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import { DEFAULT_ORGANIZATION } from '../src/organizations/organization.js';
import { SANDBOX_ADMIN_USERID } from '../src/sign-in/console-sign-in.js';
import { UserMappingsService } from '../src/user-mappings/user-mappings.service.js';
import { WeComCallbackService } from '../src/wecom/callback/wecom-callback.service.js';
import { WeComEventHandlers } from '../src/wecom/callback/wecom-event-handlers.js';
import type { DeliveredMessage } from '../tools/wecom-simulator/message-log.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { inOrganization } from './support/in-organization.js';
import { createSandboxApp, createTestApp, simulatorEnv, tokenFor } from './support/test-app.js';
import {
  createTestDatabase,
  describeWithServer,
  testAppRole,
  type TestDatabase,
} from './support/test-database.js';
import { signedCallback, type CallbackKeys } from './support/wecom-callback-envelope.js';

const FRONTEND = 'https://interviews.example.com/app';
const PUBLIC_BASE = 'https://wecom-bridge.example.com';
const HOUR = 3600_000;

/** A company: its organisation here, its corp in the simulator, its callback Token and key. */
interface Company {
  scope: OrganizationScope;
  corpId: string;
  agentId: number;
  token: string;
  aesKey: string;
  /** Where WeCom is told to send its callbacks. */
  path: string;
}

/** `default`: the environment's app, the simulator's sandbox corp, the bare callback URL. */
const ALPHA: Company = {
  scope: DEFAULT_ORGANIZATION,
  corpId: 'ww-sandbox',
  agentId: 1000002,
  token: 'AlphaToken1',
  aesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  path: '/wecom/callback',
};
const BETA_CORP = { corpId: 'ww-beta', corpSecret: 'beta-Secret-0123456789', agentId: 1000007 };
const BETA_KEYS = { token: 'BetaToken22', aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' };

type CardBody = { template_card?: { button_list?: { key: string }[] } };

describeWithServer('Callbacks and sign-in per organisation (e2e, PostgreSQL)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let beta: Company;
  const http = () => request(app.getHttpServer());
  const now = () => Math.floor(clock.nowMs() / 1000);
  const settle = () => app.get(WeComCallbackService).whenIdle();
  const deliver = () => app.get(MessageDispatcher).drain();
  /** As the database's owner, behind the service's back: what each organisation holds. */
  const sql = <T = Record<string, unknown>>(text: string, params: unknown[] = []) =>
    db.ownerQuery<T>(text, params);
  const eventCounts = async () => {
    const rows = await sql<{ org: string; n: number }>(
      'SELECT organization_id AS org, count(*)::int AS n FROM wecom_events GROUP BY 1',
    );
    const of = (c: Company) => rows.find((r) => r.org === c.scope.id)?.n ?? 0;
    return { alpha: of(ALPHA), beta: of(beta), total: rows.reduce((t, r) => t + r.n, 0) };
  };

  /** An event as WeCom builds it, encrypted and signed with `keys`. */
  const envelope = (inner: string, keys: CallbackKeys) =>
    signedCallback(inner, keys, { timestamp: now() });
  const textEvent = (corpId: string, content: string) =>
    `<xml><ToUserName><![CDATA[${corpId}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>` +
    `<CreateTime>${now()}</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
    `<Content><![CDATA[${content}]]></Content><MsgId>${Date.now()}${Math.floor(Math.random() * 1e6)}</MsgId>` +
    `<AgentID>1</AgentID></xml>`;
  const postTo = (path: string, signed: ReturnType<typeof envelope>) =>
    http().post(path).query(signed.query).set('Content-Type', 'text/xml').send(signed.body);

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    app = await createTestApp(
      {
        ...db.env,
        ...simulatorEnv(sim.url),
        WECOM_CALLBACK_TOKEN: ALPHA.token,
        WECOM_CALLBACK_AES_KEY: ALPHA.aesKey,
        FRONTEND_URL: FRONTEND,
        PUBLIC_BASE_URL: PUBLIC_BASE,
      },
      { clock },
    );
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    const base = `http://127.0.0.1:${port}`;

    // The second company: an organisation here, a corp of its own at WeCom, its admin setting
    // its app and callback keys through the admin configuration (gettoken first, as always).
    const [{ id }] = await sql<{ id: string }>(
      `INSERT INTO organizations (slug, name) VALUES ('beta', 'Beta Ltd') RETURNING id`,
    );
    beta = {
      scope: { id, slug: 'beta' },
      corpId: BETA_CORP.corpId,
      agentId: BETA_CORP.agentId,
      ...BETA_KEYS,
      path: '/wecom/callback/beta',
    };
    sim.addCorp({
      ...BETA_CORP,
      members: [
        { userid: 'zhangsan', name: '张三' },
        { userid: 'zhaoliu', name: '赵六' },
        { userid: 'wangwu', name: '王五' },
      ],
      callback: { url: `${base}${beta.path}`, token: beta.token, encodingAesKey: beta.aesKey },
    });
    sim.setCallback({
      url: `${base}${ALPHA.path}`,
      token: ALPHA.token,
      encodingAesKey: ALPHA.aesKey,
    });
    await inOrganization(
      () =>
        app.get(AdminConfigService).update(
          {
            ...BETA_CORP,
            callbackToken: beta.token,
            callbackAesKey: beta.aesKey,
          },
          'admin-of-beta',
        ),
      beta.scope,
    );

    // The same WeCom userid in both companies, a different platform user in each.
    for (const [company, prefix] of [
      [ALPHA, 'a'],
      [beta, 'b'],
    ] as const) {
      await inOrganization(async () => {
        const mappings = app.get(UserMappingsService);
        await mappings.create(
          { platformUserId: `${prefix}-zhang`, wecomUserId: 'zhangsan' },
          'spec',
        );
        await mappings.create({ platformUserId: `${prefix}-rec`, wecomUserId: 'zhaoliu' }, 'spec');
        // One platform user in both companies (allowed: the platform's ids are not per company).
        await mappings.create({ platformUserId: 'u-both', wecomUserId: 'wangwu' }, 'spec');
      }, company.scope);
    }
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  beforeEach(() => clock.advance(61_000));

  describe('the callback URL', () => {
    const urlCheck = (company: Pick<Company, 'token' | 'aesKey' | 'corpId'>, echo: string) => {
      const timestamp = String(now());
      const echostr = wecom.encrypt(company.aesKey, echo, company.corpId);
      return {
        msg_signature: wecom.getSignature(company.token, timestamp, '42', echostr),
        timestamp,
        nonce: '42',
        echostr,
      };
    };

    it("B's URL verifies with B's Token, key and corp id, and with no other", async () => {
      const ok = await http().get(beta.path).query(urlCheck(beta, '7070707')).expect(200);
      expect(ok.text).toBe('7070707');
      await http().get(beta.path).query(urlCheck(ALPHA, '7070707')).expect(403);
      await http().get(ALPHA.path).query(urlCheck(beta, '7070707')).expect(403);
      // B's own Token and key, but addressed to A's corp: the receiveid is B's.
      await http()
        .get(beta.path)
        .query(urlCheck({ ...beta, corpId: ALPHA.corpId }, '7070707'))
        .expect(403);
    });

    it("an event for B, signed with B's keys, is stored in B and handled in B's scope", async () => {
      const seen: (OrganizationScope | undefined)[] = [];
      const off = app.get(WeComEventHandlers).register('text', () => {
        seen.push(organizationScope.get());
      });
      try {
        const before = await eventCounts();
        await postTo(beta.path, envelope(textEvent(beta.corpId, 'for beta'), beta)).expect(200);
        await settle();
        expect(await eventCounts()).toEqual({
          alpha: before.alpha,
          beta: before.beta + 1,
          total: before.total + 1,
        });
        expect(seen).toEqual([beta.scope]);
      } finally {
        off();
      }
    });

    it.each([
      ["A's Token and key, A's corp", () => ALPHA],
      ["A's Token, B's key and corp", () => ({ ...beta, token: ALPHA.token })],
      ["B's Token, A's key, B's corp", () => ({ ...beta, aesKey: ALPHA.aesKey })],
      ["B's Token and key, A's corp as receiveid", () => ({ ...beta, corpId: ALPHA.corpId })],
    ])(
      'a body posted to B made with %s is refused, and nothing is stored anywhere',
      async (_l, keys) => {
        const before = await eventCounts();
        const res = await postTo(beta.path, envelope(textEvent(beta.corpId, 'forged'), keys()));
        expect([400, 403]).toContain(res.status);
        expect(res.body).toMatchObject({ status: res.status });
        await settle();
        expect(await eventCounts()).toEqual(before);
      },
    );

    it("a body signed with A's keys posted to B's URL is a 403, as a bad signature", async () => {
      const res = await postTo(beta.path, envelope(textEvent(ALPHA.corpId, 'wrong door'), ALPHA));
      expect(res.status).toBe(403);
      expect(res.body.detail).toBe('Callback signature does not match');
    });

    it("the sweep runs each organisation's pending events in that organisation", async () => {
      const seen: { content: string; scope?: OrganizationScope }[] = [];
      const off = app.get(WeComEventHandlers).register('text', (e) => {
        seen.push({ content: e.fields.Content ?? '', scope: organizationScope.get() });
      });
      try {
        await postTo(ALPHA.path, envelope(textEvent(ALPHA.corpId, 'pending-a'), ALPHA)).expect(200);
        await postTo(beta.path, envelope(textEvent(beta.corpId, 'pending-b'), beta)).expect(200);
        await settle();
        seen.length = 0;
        // As if both processes died between storing and dispatching.
        await sql(`UPDATE wecom_events SET processed_at = NULL WHERE body LIKE '%pending-_%'`);
        clock.advance(61_000);
        expect(await app.get(WeComCallbackService).dispatchPending()).toBe(2);
        expect(seen).toEqual(
          expect.arrayContaining([
            { content: 'pending-a', scope: ALPHA.scope },
            { content: 'pending-b', scope: beta.scope },
          ]),
        );
        expect(seen).toHaveLength(2);
      } finally {
        off();
      }
    });
  });

  describe('an RSVP tap', () => {
    /** A recruiter of the company books an interview; its invitation goes out. */
    async function book(
      company: Company,
      prefix: string,
      interviewer = `${prefix}-zhang`,
    ): Promise<string> {
      const booked = await inOrganization(
        () =>
          app.get(InterviewsService).create(
            {
              title: `后端工程师 一面 (${company.scope.slug})`,
              candidate: { name: '李雷' },
              startsAt: new Date(clock.nowMs() + 48 * HOUR).toISOString(),
              durationMinutes: 45,
              roomUrl: `https://www.showmebug.com/pads/${company.scope.slug}${Date.now()}`,
              interviewers: [interviewer],
            } as CreateInterviewDto,
            { id: `${prefix}-rec`, roles: ['recruiter'] },
          ),
        company.scope,
      );
      await deliver();
      return booked.interview.id;
    }
    const cardOf = (corpId: string, interviewId: string, userid = 'zhangsan'): DeliveredMessage => {
      const card = sim
        .corp(corpId)
        .messagesFor(userid)
        .find((m) =>
          ((m.body as CardBody).template_card?.button_list ?? []).some(
            (b) => b.key === `rsvp:accept:${interviewId}`,
          ),
        );
      if (!card) throw new Error(`no invitation card for ${interviewId} in ${corpId}`);
      return card;
    };
    const rsvpOf = async (interviewId: string) =>
      (
        await sql<{ rsvp: string }>(
          `SELECT rsvp FROM interview_participants WHERE interview_id = $1 AND role = 'interviewer'`,
          [interviewId],
        )
      ).map((r) => r.rsvp);

    it("in B updates B's interview only, and B's card in B's corp", async () => {
      const inAlpha = await book(ALPHA, 'a');
      const inBeta = await book(beta, 'b');
      const card = cardOf(beta.corpId, inBeta);
      expect(() => cardOf(ALPHA.corpId, inBeta)).toThrow(); // B's card went to B's corp only

      const { delivery } = await sim
        .corp(beta.corpId)
        .clickCard('zhangsan', card.msgid, `rsvp:accept:${inBeta}`);
      expect(delivery).toMatchObject({ delivered: true, attempts: [{ status: 200 }] });
      await settle();

      expect(await rsvpOf(inBeta)).toEqual(['accepted']);
      expect(await rsvpOf(inAlpha)).toEqual(['pending']);
      const updates = (corpId: string) =>
        sim
          .corp(corpId)
          .messagesFor('zhangsan')
          .filter((m) => m.msgtype === 'update_template_card');
      expect(updates(beta.corpId).at(-1)?.body).toMatchObject({
        agentid: beta.agentId,
        button: { replace_name: '已接受' },
      });
      expect(updates(ALPHA.corpId)).toEqual([]);
    });

    /**
     * Whoever holds B's callback keys (B's WeCom admins) can sign anything for B's URL, such as a
     * tap naming A's interview, from B's member mapped to the platform user who is also A's
     * interviewer. Only row-level security keeps B's scope from A's interview here (the handler
     * looks the interview up by its id): with the service as a superuser, which refuses to start
     * with more than one organisation, there is nothing to prove.
     */
    (testAppRole ? it : it.skip)(
      "a tap signed with B's keys naming A's interview changes nothing in A",
      async () => {
        const inAlpha = await book(ALPHA, 'a', 'u-both');
        const click = sim.cardClickEvent(
          'wangwu',
          cardOf(ALPHA.corpId, inAlpha, 'wangwu').msgid,
          `rsvp:accept:${inAlpha}`,
        );
        const inner =
          `<xml><ToUserName><![CDATA[${beta.corpId}]]></ToUserName>` +
          `<FromUserName><![CDATA[wangwu]]></FromUserName><CreateTime>${now()}</CreateTime>` +
          `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event>` +
          `<EventKey><![CDATA[rsvp:accept:${inAlpha}]]></EventKey><TaskId><![CDATA[${click.taskId}]]></TaskId>` +
          `<CardType><![CDATA[button_interaction]]></CardType>` +
          `<ResponseCode><![CDATA[${click.responseCode}]]></ResponseCode>` +
          `<AgentID>${beta.agentId}</AgentID></xml>`;
        await postTo(beta.path, envelope(inner, beta)).expect(200);
        await settle();
        expect(await rsvpOf(inAlpha)).toEqual(['pending']);
        // B's handler found no such interview in B: the event says so, A's card is untouched.
        const [row] = await sql<{ handler_error: string | null; org: string }>(
          `SELECT handler_error, organization_id AS org FROM wecom_events
          WHERE body LIKE $1 ORDER BY id DESC LIMIT 1`,
          [`%rsvp:accept:${inAlpha}%`],
        );
        expect(row?.org).toBe(beta.scope.id);
        expect(
          sim
            .corp(ALPHA.corpId)
            .messagesFor('wangwu')
            .filter((m) => m.msgtype === 'update_template_card'),
        ).toEqual([]);
      },
    );
  });

  describe('sign-in', () => {
    const signInCookie = (res: request.Response) =>
      ([] as string[])
        .concat(res.headers['set-cookie'] ?? [])
        .find((c) => c.startsWith('wecom_signin='))!
        .split(';')[0]!;

    async function start(org?: string) {
      const res = await http()
        .get('/auth/wecom/login')
        .query({ redirect: '/x', ...(org ? { org } : {}) })
        .expect(302);
      const url = new URL(res.headers.location as string);
      return { url, state: url.searchParams.get('state')!, cookie: signInCookie(res) };
    }

    it("B's sign-in goes to B's app and comes back to B's callback; the JWT says org = beta", async () => {
      const { url, state, cookie } = await start('beta');
      expect(url.searchParams.get('appid')).toBe(beta.corpId);
      expect(url.searchParams.get('agentid')).toBe(String(beta.agentId));
      const redirectUri = url.searchParams.get('redirect_uri')!;
      expect(redirectUri).toBe(`${PUBLIC_BASE}/auth/wecom/callback?org=beta`);

      // WeCom keeps the redirect_uri's query and appends code and state.
      const back = new URL(redirectUri);
      back.searchParams.set('code', sim.corp(beta.corpId).issueOAuthCode('zhangsan'));
      back.searchParams.set('state', state);
      const res = await http()
        .get(back.pathname + back.search)
        .set('Cookie', cookie)
        .expect(302);
      const jwt = (res.headers.location as string).split('#token=')[1]!;
      expect(decodeJwt(jwt)).toMatchObject({ sub: 'b-zhang', org: 'beta' });
      await http().get('/api/me').auth(jwt, { type: 'bearer' }).expect(200);
    });

    it("the default organisation's JWT says org = default", async () => {
      const { state, cookie } = await start();
      const res = await http()
        .get('/auth/wecom/callback')
        .query({ code: sim.issueOAuthCode('zhangsan'), state })
        .set('Cookie', cookie)
        .expect(302);
      const jwt = (res.headers.location as string).split('#token=')[1]!;
      expect(decodeJwt(jwt)).toMatchObject({ sub: 'a-zhang', org: 'default' });
    });

    it('a state issued for A is refused on B, as an unknown one, and stays good on A', async () => {
      const { state, cookie } = await start();
      const onBeta = await http()
        .get('/auth/wecom/callback')
        .query({ org: 'beta', code: sim.corp(beta.corpId).issueOAuthCode('zhangsan'), state })
        .set('Cookie', cookie)
        .expect(400);
      expect(onBeta.text).toContain('invalid, expired or already used');
      expect(onBeta.headers.location).toBeUndefined();
      await http()
        .get('/auth/wecom/callback')
        .query({ code: sim.issueOAuthCode('zhangsan'), state })
        .set('Cookie', cookie)
        .expect(302);
    });

    it("a code from A's corp does not sign anyone in on B", async () => {
      const { state, cookie } = await start('beta');
      const res = await http()
        .get('/auth/wecom/callback')
        .query({ org: 'beta', code: sim.issueOAuthCode('zhangsan'), state })
        .set('Cookie', cookie);
      expect(res.status).toBe(400);
      expect(res.text).toContain('authorisation code is invalid');
    });
  });
});

describeWithServer('Sign-in per organisation in sandbox mode (e2e, PostgreSQL)', () => {
  const PUBLIC = 'http://bridge.test';
  let db: TestDatabase;
  let app: INestApplication;
  let sim: WeComSimulator;
  let beta: OrganizationScope;
  const http = () => request(app.getHttpServer());
  /** The path and query of a URL of this service (supertest talks to the app, whatever host). */
  const local = (url: string) => {
    const u = new URL(url);
    expect(u.origin).toBe(PUBLIC);
    return u.pathname + u.search;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    ({ app, simulator: sim } = await createSandboxApp({
      ...db.env,
      PUBLIC_BASE_URL: PUBLIC,
      FRONTEND_URL: FRONTEND,
    }));
    const [{ id }] = await db.ownerQuery<{ id: string }>(
      `INSERT INTO organizations (slug, name) VALUES ('beta', 'Beta Ltd') RETURNING id`,
    );
    beta = { id, slug: 'beta' };
    sim.addCorp({
      ...BETA_CORP,
      members: [
        { userid: 'zhangsan', name: '张三' },
        { userid: 'wangwu', name: '王五' },
      ],
    });
    await inOrganization(async () => {
      await app.get(AdminConfigService).update({ ...BETA_CORP }, 'admin-of-beta');
      await app
        .get(UserMappingsService)
        .create({ platformUserId: 'b-zhang', wecomUserId: 'zhangsan' }, 'spec');
    }, beta);
    await inOrganization(() =>
      app.get(UserMappingsService).create({ platformUserId: 'a-li', wecomUserId: 'lisi' }, 'spec'),
    );
  });

  /** The console's sign-in as its page starts it (login, the sandbox's WeCom page, callback): the callback's answer. */
  async function consoleSignIn(
    org: string,
    member: string,
    status: number,
  ): Promise<request.Response> {
    const login = await http()
      .get('/auth/wecom/login')
      .query({ org, target: 'console', member, redirect: '/people' })
      .expect(302);
    const cookie = ([] as string[])
      .concat(login.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('wecom_signin='))!
      .split(';')[0]!;
    const page = await http()
      .get(local(login.headers.location as string))
      .expect(302);
    return http()
      .get(local(page.headers.location as string))
      .set('Cookie', cookie)
      .expect(status);
  }

  /** The operator sets an organisation's console admins. */
  async function setConsoleAdmins(org: string, consoleAdmins: string[]): Promise<void> {
    await http()
      .patch(`/api/organizations/${org}`)
      .auth(await tokenFor('platform-op', 'operator'), { type: 'bearer' })
      .send({ consoleAdmins })
      .expect(200);
  }

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it("the sandbox's WeCom page signs B's member in with B's corp: a JWT for org beta", async () => {
    const login = await http()
      .get('/auth/wecom/login')
      .query({ org: 'beta', member: 'zhangsan', redirect: '/x' })
      .expect(302);
    const cookie = ([] as string[])
      .concat(login.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('wecom_signin='))!
      .split(';')[0]!;
    const page = new URL(login.headers.location as string);
    expect(Object.fromEntries(page.searchParams)).toMatchObject({
      appid: BETA_CORP.corpId,
      agentid: String(BETA_CORP.agentId),
      redirect_uri: `${PUBLIC}/auth/wecom/callback?org=beta`,
    });
    const back = await http().get(local(page.toString())).expect(302);
    const res = await http()
      .get(local(back.headers.location as string))
      .set('Cookie', cookie)
      .expect(302);
    const jwt = (res.headers.location as string).split('#token=')[1]!;
    expect(decodeJwt(jwt)).toMatchObject({ sub: 'b-zhang', org: 'beta' });
  });

  it("refuses B's redirect_uri with A's app, and A's redirect_uri with B's app", async () => {
    const page = (appid: string, agentid: number, redirectUri: string) =>
      http()
        .get('/sandbox/wecom/authorize')
        .query({
          appid,
          agentid: String(agentid),
          redirect_uri: redirectUri,
          state: 'abc',
          login_hint: 'zhangsan',
        });
    await page('ww-sandbox', 1000002, `${PUBLIC}/auth/wecom/callback?org=beta`).expect(400);
    await page(BETA_CORP.corpId, BETA_CORP.agentId, `${PUBLIC}/auth/wecom/callback`).expect(400);
    await page(
      BETA_CORP.corpId,
      BETA_CORP.agentId,
      `${PUBLIC}/auth/wecom/callback?org=nobody`,
    ).expect(400);
  });

  it("signs B's console admin in to B's console: an admin session in B that sees B's data only", async () => {
    await setConsoleAdmins('beta', ['ZhangSan']);
    const res = await consoleSignIn('beta', 'zhangsan', 302);
    const prefix = `${PUBLIC}/admin/people#token=`;
    expect((res.headers.location as string).startsWith(prefix)).toBe(true);
    const jwt = (res.headers.location as string).slice(prefix.length);
    expect(decodeJwt(jwt)).toMatchObject({ sub: 'b-zhang', org: 'beta', roles: ['admin'] });

    const me = await http().get('/api/me').auth(jwt, { type: 'bearer' }).expect(200);
    expect(me.body.organization).toEqual({ id: beta.id, slug: 'beta', name: 'Beta Ltd' });
    const people = await http().get('/api/user-mappings').auth(jwt, { type: 'bearer' }).expect(200);
    expect(people.body.items.map((m: { platformUserId: string }) => m.platformUserId)).toEqual([
      'b-zhang',
    ]);
    const config = await http().get('/api/admin/config').auth(jwt, { type: 'bearer' }).expect(200);
    expect(config.body.corpId).toBe(BETA_CORP.corpId);
  });

  it("refuses an admin of A on B's console: a 403 page, no token, whatever the same userid is in B's corp", async () => {
    await setConsoleAdmins('default', ['wangwu']);
    await setConsoleAdmins('beta', ['ZhangSan']);
    // wangwu administers default's console...
    const own = await consoleSignIn('default', 'wangwu', 302);
    const jwt = (own.headers.location as string).split('#token=')[1]!;
    expect(decodeJwt(jwt)).toMatchObject({ sub: 'wecom:wangwu', org: 'default', roles: ['admin'] });
    const people = await http().get('/api/user-mappings').auth(jwt, { type: 'bearer' }).expect(200);
    expect(people.body.items.map((m: { platformUserId: string }) => m.platformUserId)).toEqual([
      'a-li',
    ]);
    // ...and is a member of B's corp too, but not B's console admin: refused.
    const refused = await consoleSignIn('beta', 'wangwu', 403);
    expect(refused.headers['content-type']).toMatch(/^text\/html/);
    expect(refused.text).toContain('not an administrator of this console for Beta Ltd');
    expect(refused.headers.location).toBeUndefined();
    expect(refused.text).not.toContain('token=');
  });

  it("keeps default's console admins (CONSOLE_ADMINS, the sandbox admin) out of B's", async () => {
    // The sandbox admin is default's: B's WeCom app does not know them, and B's list does not
    // name them, so the sandbox's page for B's app turns them away before any code.
    const login = await http()
      .get('/auth/wecom/login')
      .query({ org: 'beta', target: 'console', member: SANDBOX_ADMIN_USERID })
      .expect(302);
    await http()
      .get(local(login.headers.location as string))
      .expect(400);
    // Listed for B by mistake, they are still B's corp's member of that name only: B's app
    // must know them, and then the session is B's, never default's.
    await setConsoleAdmins('beta', [SANDBOX_ADMIN_USERID]);
    sim.corp(BETA_CORP.corpId).addUsers([{ userid: SANDBOX_ADMIN_USERID, name: 'B person' }]);
    const res = await consoleSignIn('beta', SANDBOX_ADMIN_USERID, 302);
    const jwt = (res.headers.location as string).split('#token=')[1]!;
    expect(decodeJwt(jwt)).toMatchObject({ org: 'beta' });
  });
});
