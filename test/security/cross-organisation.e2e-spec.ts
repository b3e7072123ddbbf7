import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

import type { INestApplication } from '@nestjs/common';
import * as wecom from '@wecom/crypto';
import { SignJWT } from 'jose';
import request from 'supertest';
import { DataSource } from 'typeorm';

import { encodeCursor } from '../../src/common/cursor.js';
import { MessageDispatcher } from '../../src/messaging/message-dispatcher.js';
import { WeComCallbackService } from '../../src/wecom/callback/wecom-callback.service.js';
import { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { LogRecorder } from '../support/log-recorder.js';
import { simulatorEnv, TEST_JWT_SECRET, createTestApp } from '../support/test-app.js';
import {
  createTestDatabase,
  describeWithAppRole,
  testAppRole,
  type TestDatabase,
} from '../support/test-database.js';
import { controllerRoutes, routeKey, type ControllerRoute } from './route-inventory.js';
import {
  signedCallback,
  type CallbackKeys as Keys,
  type SignedCallback as Signed,
} from '../support/wecom-callback-envelope.js';

/**
 * The cross-organisation walk (#12, docs/design/organisations.md section 7). Two companies, A and
 * B, each with its own organisation, its own corp at WeCom and its own data, all made through the
 * API. Every route of the route table is then called with A's tokens, A's callback keys and A's
 * sign-in, against B's ids, slug and callback URL: A is answered 403 or 404 where it names B's
 * things, never sees anything of B's in an answer, and leaves every row of B's as it was.
 *
 * A route added later is walked by itself; one whose path parameter the walk cannot fill with B's
 * ids, or whose body it cannot make, fails here until PARAMS or WALK says how.
 *
 * It runs where the service serves as the restricted role (TEST_APP_ROLE on a server, as CI
 * does), the only way several organisations are served: reads by id rely on row-level security
 * to hide other organisations' rows (design, section 2), which binds no superuser, and a service
 * whose role it does not bind refuses to start with more than one organisation. Run as the
 * superuser, this walk fails on the interview and message routes: it sees what RLS would hide.
 */

const FRONTEND = 'https://interviews.example.com/app';
const PUBLIC_BASE = 'https://wecom-bridge.example.com';
const DAY = 86_400_000;
const rand = () => randomBytes(4).toString('hex');

/** The default organisation's callback keys (the environment's), neither A's nor B's. */
const DEFAULT_KEYS = {
  token: 'DefaultTok1',
  aesKey: 'kWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2D',
};

/** A company: its organisation here, its corp at WeCom, its people. */
interface Company {
  slug: string;
  name: string;
  id: string;
  corpId: string;
  corpSecret: string;
  agentId: number;
  callbackToken: string;
  callbackAesKey: string;
  /** Platform user ids by what they do. */
  people: { admin: string; recruiter: string; interviewer: string; observer: string };
  /** Their WeCom userids in the company's corp. */
  members: { recruiter: string; interviewer: string; observer: string };
  /** Email of the interviewer in the corp's directory (mappings may be made by email). */
  interviewerEmail: string;
}

function company(letter: 'a' | 'b', agentId: number): Company {
  const tag = `${letter}${rand()}`;
  return {
    slug: `org${tag}`,
    name: `Company ${tag.toUpperCase()}`,
    id: '', // known once the operator has created it
    corpId: `ww${tag}corp`,
    corpSecret: `${tag}-Secret-0123456789`,
    agentId,
    callbackToken: `Tok${tag}x`,
    // 43 characters of base64 (WeCom's EncodingAESKey), different per company.
    callbackAesKey: `${tag}${'Q'.repeat(43 - tag.length - 1)}A`,
    people: {
      admin: `${tag}-admin`,
      recruiter: `${tag}-recruiter`,
      interviewer: `${tag}-interviewer`,
      observer: `${tag}-observer`,
    },
    members: { recruiter: `${tag}rec`, interviewer: `${tag}int`, observer: `${tag}obs` },
    interviewerEmail: `${tag}.int@example.com`,
  };
}

/**
 * A person of the same id in both companies, mapped to the same WeCom userid in both corps: the
 * collision that per-organisation unique keys must allow, and that no lookup may cross.
 */
const SHARED = { platformUserId: 'shared-person', wecomUserId: 'sharedmember' };

/** A platform JWT naming its organisation (`org`), as the platform issues them. */
function tokenIn(org: string | undefined, sub: string, roles: string[]): Promise<string> {
  return new SignJWT({ roles, ...(org === undefined ? {} : { org }) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
}

/** One caller of A's. */
interface Identity {
  label: string;
  sub: string;
  roles: string[];
  token: string;
}

/** B's things that A's requests name, made through B's API before the walk. */
interface BFixture {
  interviewId: string;
  canceledInterviewId: string;
  interviewVersion: number;
  roomUrl: string;
  title: string;
  candidate: string;
  sentMessageId: string;
  failedMessageId: string;
  messageText: string;
  idempotencyKey: string;
  mappingIds: string[];
  /** A sign-in B's user started (its state is in B's oauth_states). */
  signInState: string;
  /** An audit cursor just past B's newest audit entry. */
  auditCursor: string;
}

/** What a probe's builder gets. */
interface WalkContext {
  a: Company;
  b: Company;
  fixture: BFixture;
  /** A sign-in state issued for A (in A's organisation), with its browser cookie. */
  signInForA: { state: string; cookie: string };
  /** An event as WeCom would post it, signed and encrypted with the given keys. */
  envelope: (inner: string, keys: Keys) => Signed;
  urlCheck: (keys: Keys) => Record<string, string>;
  textEvent: (corpId: string, content: string) => string;
}

/** One request of the walk, beside the path. */
interface Probe {
  /** Shown when it goes wrong: what the request tries. */
  what: string;
  query?: Record<string, string | undefined>;
  body?: string | object;
  headers?: Record<string, string>;
  /**
   * The right answers, when the defaults do not fit (and then the probe says why). Defaults:
   * 403 for a role the route does not allow; 403 or 404 when the path names B's things; else a
   * success (the request did its work in A).
   */
  expect?: number[];
}

type ProbeBuilder = (w: WalkContext, who: Identity) => Probe[];

/**
 * B's values for each path parameter, by controller and name: every route's parameters are
 * filled from here, so a route with a parameter not listed fails the walk until it is.
 */
const PARAMS: Record<string, (w: WalkContext) => string[]> = {
  'InterviewsController:id': (w) => [w.fixture.interviewId, w.fixture.canceledInterviewId],
  'MessagesController:id': (w) => [w.fixture.sentMessageId, w.fixture.failedMessageId],
  'UserMappingsController:id': (w) => w.fixture.mappingIds,
  // An operator's route; an organisation is named by id or slug.
  'OrganizationsController:id': (w) => [w.b.id, w.b.slug],
  'WeComCallbackController:slug': (w) => [w.b.slug],
};

const textBody = (content: string) => ({ msgtype: 'text', text: { content } });
const interviewBody = (w: WalkContext, title: string) => ({
  title,
  candidate: { name: 'Candidate of A' },
  startsAt: new Date(Date.now() + 3 * DAY).toISOString(),
  durationMinutes: 45,
  // B's room and B's people, named by A: A's own interview with them, nothing of B's.
  roomUrl: w.fixture.roomUrl,
  interviewers: [w.b.people.interviewer],
  observers: [SHARED.platformUserId],
});

/**
 * How each route is walked. A route that takes a body must be described here (otherwise the walk
 * would only test validation); a route without one is walked with a bare request by default.
 */
const WALK: Record<string, ProbeBuilder> = {
  'GET /api/user-mappings': (w) => [
    { what: 'list' },
    { what: "filter by B's platform user", query: { platformUserId: w.b.people.interviewer } },
    { what: "filter by B's WeCom userid", query: { wecomUserId: w.b.members.interviewer } },
    { what: 'filter by the shared person', query: { platformUserId: SHARED.platformUserId } },
    {
      what: "a cursor naming B's mapping",
      query: { cursor: futureCursor(w.fixture.mappingIds[0]) },
    },
  ],
  'POST /api/user-mappings': (w) => [
    {
      what: "map B's person to B's member",
      body: { platformUserId: w.b.people.interviewer, wecomUserId: w.b.members.interviewer },
      // A's corp does not know B's member: WeCom (A's corp) says so.
      expect: [422],
    },
    {
      what: "map by the email of B's member",
      body: { platformUserId: `a-walk-${rand()}`, email: w.b.interviewerEmail },
      expect: [422],
    },
    {
      what: 'map the shared person again',
      body: SHARED,
      // A has mapped them already: the conflict names A's mapping, never B's.
      expect: [409],
    },
  ],
  'GET /api/messages': (w) => [
    { what: 'list' },
    { what: "filter by B's interview", query: { interviewId: w.fixture.interviewId } },
    { what: "filter by B's recipient", query: { recipient: w.b.people.interviewer } },
    { what: 'filter by the shared person', query: { recipient: SHARED.platformUserId } },
    {
      what: "a cursor naming B's message",
      query: { cursor: futureCursor(w.fixture.sentMessageId) },
    },
  ],
  'POST /api/messages': (w) => [
    {
      what: "to B's person",
      body: { to: [{ platformUserId: w.b.people.interviewer }], ...textBody('from A, walk') },
      expect: [202],
    },
    {
      what: "to B's member by WeCom userid",
      body: { to: [{ wecomUserId: w.b.members.interviewer }], ...textBody('from A, walk') },
      expect: [202],
    },
    {
      // As B's recruiter's id in A, with B's key: the same stored key as B's message, which a
      // global unique key (or an unscoped lookup) would answer with B's message.
      what: "B's idempotency key",
      body: {
        to: [{ platformUserId: SHARED.platformUserId }],
        ...textBody('from A, replayed key'),
        idempotencyKey: w.fixture.idempotencyKey,
      },
      expect: [202],
    },
  ],
  'GET /api/interviews': (w) => [
    { what: 'list' },
    { what: "filter by B's interviewer", query: { participant: w.b.people.interviewer } },
    { what: 'filter by the shared person', query: { participant: SHARED.platformUserId } },
    {
      what: "a cursor naming B's interview",
      query: { cursor: futureCursor(w.fixture.interviewId) },
    },
  ],
  'POST /api/interviews': (w) => [
    {
      what: "book with B's people and room",
      body: interviewBody(w, 'A walk interview'),
      expect: [201],
    },
  ],
  'PATCH /api/interviews/:id': (w) => [
    {
      what: 'retitle, If-Match',
      body: { title: 'changed by A' },
      headers: { 'if-match': `"${w.fixture.interviewVersion}"` },
    },
    {
      what: 'move, version in the body',
      body: {
        version: w.fixture.interviewVersion,
        startsAt: new Date(Date.now() + 5 * DAY).toISOString(),
        interviewers: [w.a.people.interviewer],
      },
    },
  ],
  'POST /api/interviews/:id/cancel': () => [{ what: 'cancel', body: { reason: 'canceled by A' } }],
  'POST /api/interviews/:id/rsvp': () => [
    { what: 'accept', body: { response: 'accepted' } },
    { what: 'decline', body: { response: 'declined' } },
  ],
  'POST /api/messages/:id/retry': () => [{ what: 'retry', body: {} }],
  'POST /api/messages/:id/recall': () => [
    { what: 'recall', body: {} },
    { what: 'recall with shared', body: {}, query: { includeShared: 'true' } },
  ],
  'GET /api/interview-participants/unmapped': () => [
    { what: 'list' },
    { what: 'a month', query: { days: '30' } },
  ],
  'PUT /api/admin/config': (w) => [
    {
      what: "B's WeCom app, with B's secret",
      body: {
        corpId: w.b.corpId,
        agentId: w.b.agentId,
        corpSecret: w.b.corpSecret,
        reminderLeadTimesMin: [15],
        feedbackNudgeMin: 30,
        quietHours: null,
        defaultLanguage: 'zh',
      },
      // gettoken succeeds (it is B's app), and the app is B's: 403 (design section 4).
      expect: [403],
    },
  ],
  'PATCH /api/admin/config': (w) => [
    {
      what: "B's WeCom app, with B's secret",
      body: { corpId: w.b.corpId, agentId: w.b.agentId, corpSecret: w.b.corpSecret },
      expect: [403],
    },
    {
      what: "B's WeCom app, without its secret",
      body: { corpId: w.b.corpId, agentId: w.b.agentId },
      // A's secret is tried at B's corp, which refuses it.
      expect: [422],
    },
    { what: "A's own setting", body: { feedbackNudgeMin: 25 }, expect: [200] },
  ],
  'GET /api/admin/audit': (w) => [
    { what: 'list' },
    { what: "a cursor naming B's newest entry", query: { cursor: w.fixture.auditCursor } },
  ],
  'POST /api/admin/wecom/check': () => [{ what: "check A's app", body: {}, expect: [200] }],
  'GET /api/wecom/jssdk-config': () => [
    { what: 'a page of ours', query: { url: `${FRONTEND}/interviews/1` } },
  ],
  'GET /wecom/callback': (w) => [
    { what: "URL check signed with A's keys", query: w.urlCheck(keysOf(w.a)), expect: [403] },
  ],
  'POST /wecom/callback': (w) => {
    const signed = w.envelope(w.textEvent(w.a.corpId, 'A to default'), keysOf(w.a));
    return [
      {
        what: "event signed with A's keys",
        query: signed.query,
        body: signed.body,
        headers: { 'content-type': 'text/xml' },
        expect: [403],
      },
    ];
  },
  'GET /wecom/callback/:slug': (w) => [
    { what: "URL check signed with A's keys", query: w.urlCheck(keysOf(w.a)) },
    {
      what: "URL check with A's keys, B's corp as receiveid",
      query: w.urlCheck({ ...keysOf(w.a), corpId: w.b.corpId }),
    },
  ],
  'POST /wecom/callback/:slug': (w) =>
    [
      ["A's keys", keysOf(w.a)],
      ["A's keys, B's corp as receiveid", { ...keysOf(w.a), corpId: w.b.corpId }],
    ].map(([label, keys]) => {
      const signed = w.envelope(w.textEvent(w.b.corpId, 'A to B'), keys as Keys);
      return {
        what: `event signed with ${label as string}`,
        query: signed.query,
        body: signed.body,
        headers: { 'content-type': 'text/xml' },
      };
    }),
  'GET /auth/wecom/login': (w) => [
    // Sign-in for B (?org=<B>) is B's own public door: it stores a state in B by design, and
    // is not A's request. That a state from one organisation is no good on another's callback
    // is walked below and tested on its own.
    { what: "A's sign-in", query: { org: w.a.slug, redirect: '/x' }, expect: [302] },
    { what: "default's sign-in", query: { redirect: '/x' }, expect: [302] },
  ],
  'GET /auth/wecom/callback': (w) => {
    const { state, cookie } = w.signInForA;
    return [
      {
        what: "A's state and an A code, on B's callback",
        query: { org: w.b.slug, code: 'A-code-unused', state },
        headers: { cookie },
        // The sign-in's refusal page (invalid, expired or already used state).
        expect: [400],
      },
      {
        what: "B's own pending state, without its browser cookie",
        query: { org: w.b.slug, code: 'A-code-unused', state: w.fixture.signInState },
        headers: { cookie },
        expect: [400],
      },
    ];
  },
  // The operators' routes: not A's (its admin is no operator), whatever they name.
  'POST /api/organizations': (w) => [
    { what: "B's slug again", body: { slug: w.b.slug, name: 'taken' } },
    { what: 'a new one', body: { slug: `orgwalk${rand()}`, name: 'by A' } },
  ],
  'PATCH /api/organizations/:id': () => [
    { what: 'suspend', body: { status: 'suspended' } },
    { what: 'rename', body: { name: 'renamed by A' } },
  ],
};

function keysOf(c: Company): Keys {
  return { token: c.callbackToken, aesKey: c.callbackAesKey, corpId: c.corpId };
}

/** A cursor past everything, carrying an id of B's (cursors are opaque, not trusted). */
function futureCursor(id: string | undefined): string {
  return encodeCursor({ createdAt: new Date('2100-01-01T00:00:00Z'), id: id! });
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** `:name` parameters of a route pattern, in order. */
function paramsOf(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z_]\w*)/g)].map((m) => m[1]!);
}

/** Every combination of the parameters' values, as concrete paths. */
function fill(path: string, values: Record<string, string[]>): string[] {
  let paths = [path];
  for (const [name, options] of Object.entries(values)) {
    paths = paths.flatMap((p) =>
      options.map((v) => p.replace(new RegExp(`:${name}\\b`), encodeURIComponent(v))),
    );
  }
  return paths;
}

describeWithAppRole(
  'Organisation A against organisation B, on every route (e2e, PostgreSQL)',
  () => {
    let db: TestDatabase;
    let sim: WeComSimulator;
    let app: INestApplication;
    let base: string;
    let routes: ControllerRoute[];
    const a = company('a', 1000011);
    const b = company('b', 1000022);
    let fixture: BFixture;
    let ctx: WalkContext;
    let identities: Identity[];
    /** Errors and warnings, recorded: the ones the walk provokes by design are taken, no other may be left. */
    const logs = new LogRecorder();

    const http = () => request(app.getHttpServer());
    const settle = () => app.get(WeComCallbackService).whenIdle();
    const deliver = () => app.get(MessageDispatcher).drain();
    const now = () => Math.floor(Date.now() / 1000);

    async function as(c: Company, who: keyof Company['people'], roles: string[]) {
      return tokenIn(c.slug, c.people[who], roles);
    }

    const envelope = (inner: string, keys: Keys): Signed =>
      signedCallback(inner, keys, { timestamp: now() });
    function urlCheck(keys: Keys): Record<string, string> {
      const timestamp = String(now());
      const echostr = wecom.encrypt(keys.aesKey, `echo${rand()}`, keys.corpId);
      return {
        msg_signature: wecom.getSignature(keys.token, timestamp, '42', echostr),
        timestamp,
        nonce: '42',
        echostr,
      };
    }
    const textEvent = (corpId: string, content: string) =>
      `<xml><ToUserName><![CDATA[${corpId}]]></ToUserName><FromUserName><![CDATA[${SHARED.wecomUserId}]]></FromUserName>` +
      `<CreateTime>${now()}</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
      `<Content><![CDATA[${content}]]></Content><MsgId>${Date.now()}${Math.floor(Math.random() * 1e6)}</MsgId>` +
      `<AgentID>1</AgentID></xml>`;

    const signInCookie = (res: request.Response) =>
      ([] as string[])
        .concat(res.headers['set-cookie'] ?? [])
        .find((c) => c.startsWith('wecom_signin='))!
        .split(';')[0]!;
    async function startSignIn(org: string) {
      const res = await http().get('/auth/wecom/login').query({ org, redirect: '/x' }).expect(302);
      const url = new URL(res.headers.location as string);
      return { state: url.searchParams.get('state')!, cookie: signInCookie(res) };
    }

    /** Every table with an organization_id column: the organisation-owned ones (design, section 3). */
    async function ownedTables(): Promise<string[]> {
      const rows = await db.ownerQuery<{ table_name: string }>(
        `SELECT table_name FROM information_schema.columns
        WHERE table_schema = 'public' AND column_name = 'organization_id' ORDER BY table_name`,
      );
      return rows.map((r) => r.table_name);
    }

    /** An organisation's rows, per table: how many, and a digest of their every column (as the owner). */
    async function snapshot(organizationId: string): Promise<Record<string, string>> {
      const out: Record<string, string> = {};
      const digest = async (from: string, where: string) => {
        const [row] = await db.ownerQuery<{ n: number; digest: string | null }>(
          `SELECT count(*)::int AS n, md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS digest
           FROM ${from} t WHERE ${where} = $1`,
          [organizationId],
        );
        return `${row!.n} rows ${row!.digest ?? '-'}`;
      };
      for (const table of await ownedTables()) {
        out[table] = await digest(`"${table}"`, 'organization_id');
      }
      out['organizations (its row)'] = await digest('organizations', 'id');
      return out;
    }

    /**
     * What would give B away in an answer to A: every uuid in B's rows (ids of B's interviews,
     * messages, recipients, attempts, reminders, mappings, events, and B itself), and B's words.
     */
    async function secretsOfB(): Promise<string[]> {
      const found = new Set<string>([
        b.id,
        b.slug,
        b.name,
        b.corpId,
        b.corpSecret,
        b.callbackToken,
        b.callbackAesKey,
        ...Object.values(b.people),
        ...Object.values(b.members),
        b.interviewerEmail,
        fixture.title,
        fixture.candidate,
        fixture.roomUrl,
        fixture.messageText,
        fixture.signInState,
        ...sim.corp(b.corpId).issuedCredentials().accessTokens,
        ...sim.corp(b.corpId).issuedCredentials().jsapiTickets,
      ]);
      const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
      for (const table of await ownedTables()) {
        const rows = await db.ownerQuery<{ t: string }>(
          `SELECT t::text AS t FROM "${table}" t WHERE organization_id = $1`,
          [b.id],
        );
        for (const { t } of rows) for (const m of t.matchAll(uuid)) found.add(m[0]);
      }
      return [...found].filter((s) => s.length >= 6);
    }

    /**
     * Of strings of B's seen in an answer, those that are not A's too: the walk itself puts some of
     * B's words into A's rows (A books an interview in B's room, a caller of A's has the platform id
     * of one of B's people and is recorded as its author), and A seeing its own rows is no leak.
     */
    async function notA(seen: string[]): Promise<string[]> {
      const tables = await ownedTables();
      const out: string[] = [];
      for (const s of seen) {
        let ours = false;
        for (const table of tables) {
          const [{ found }] = await db.ownerQuery<{ found: boolean }>(
            `SELECT EXISTS (SELECT 1 FROM "${table}" t
                           WHERE organization_id <> $1 AND strpos(t::text, $2) > 0) AS found`,
            [b.id, s],
          );
          if (found) {
            ours = true;
            break;
          }
        }
        if (!ours) out.push(s);
      }
      return out;
    }

    /** B's corp at WeCom: what it was asked, and what its members received. */
    function corpActivity(corpId: string) {
      const corp = sim.corp(corpId);
      const calls = { ...corp.stats().calls };
      const members = [...Object.values(b.members), SHARED.wecomUserId];
      return { calls, received: members.map((m) => corp.messagesFor(m).length) };
    }

    beforeAll(async () => {
      db = await createTestDatabase();
      sim = new WeComSimulator();
      await sim.start();
      app = await createTestApp(
        {
          ...db.env,
          ...simulatorEnv(sim.url),
          WECOM_CALLBACK_TOKEN: DEFAULT_KEYS.token,
          WECOM_CALLBACK_AES_KEY: DEFAULT_KEYS.aesKey,
          FRONTEND_URL: FRONTEND,
          PUBLIC_BASE_URL: PUBLIC_BASE,
          // Hundreds of requests from one address: rate limiting is not what this spec is about.
          THROTTLE_LIMIT: '100000',
        },
        { logger: logs },
      );
      await app.listen(0, '127.0.0.1');
      base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
      routes = controllerRoutes(app);

      // The operator creates both organisations.
      const operator = await tokenIn(undefined, 'platform-operator', ['operator']);
      for (const c of [a, b]) {
        const res = await http()
          .post('/api/organizations')
          .auth(operator, { type: 'bearer' })
          .send({ slug: c.slug, name: c.name })
          .expect(201);
        c.id = res.body.id as string;
        sim.addCorp({
          corpId: c.corpId,
          corpSecret: c.corpSecret,
          agentId: c.agentId,
          members: [
            { userid: c.members.recruiter, name: '招聘' },
            { userid: c.members.interviewer, name: '面试官', email: c.interviewerEmail },
            { userid: c.members.observer, name: '观察员' },
            { userid: SHARED.wecomUserId, name: '共享' },
          ],
          callback: {
            url: `${base}/wecom/callback/${c.slug}`,
            token: c.callbackToken,
            encodingAesKey: c.callbackAesKey,
          },
        });
      }

      // Each company's admin sets its WeCom app (gettoken first), then a setting: audit entries.
      for (const c of [a, b]) {
        const admin = await as(c, 'admin', ['admin']);
        await http()
          .patch('/api/admin/config')
          .auth(admin, { type: 'bearer' })
          .send({
            corpId: c.corpId,
            agentId: c.agentId,
            corpSecret: c.corpSecret,
            callbackToken: c.callbackToken,
            callbackAesKey: c.callbackAesKey,
          })
          .expect(200);
        await http()
          .patch('/api/admin/config')
          .auth(admin, { type: 'bearer' })
          .send({ feedbackNudgeMin: 45 })
          .expect(200);
        await http().post('/api/admin/wecom/check').auth(admin, { type: 'bearer' }).expect(200);
      }

      // Mappings, in both companies: their own people, and the shared person in each.
      const mappingIds: Record<string, string[]> = { a: [], b: [] };
      for (const [key, c] of [
        ['a', a],
        ['b', b],
      ] as const) {
        const admin = await as(c, 'admin', ['admin']);
        for (const m of [
          { platformUserId: c.people.recruiter, wecomUserId: c.members.recruiter },
          { platformUserId: c.people.interviewer, email: c.interviewerEmail },
          { platformUserId: c.people.observer, wecomUserId: c.members.observer },
          SHARED,
        ]) {
          const res = await http()
            .post('/api/user-mappings')
            .auth(admin, { type: 'bearer' })
            .send(m)
            .expect(201);
          mappingIds[key]!.push(res.body.id as string);
        }
      }

      // B's interviews (invitation cards and reminders), messages, a tap on a card, a sign-in.
      const recruiter = await as(b, 'recruiter', ['recruiter']);
      const tag = rand();
      const title = `B 面试 ${tag}`;
      const candidate = `B 候选人 ${tag}`;
      const roomUrl = `https://www.showmebug.com/pads/B${tag.toUpperCase()}`;
      const book = async (t: string, room: string) =>
        (
          await http()
            .post('/api/interviews')
            .auth(recruiter, { type: 'bearer' })
            .send({
              title: t,
              candidate: { name: candidate },
              startsAt: new Date(Date.now() + 2 * DAY).toISOString(),
              durationMinutes: 45,
              roomUrl: room,
              interviewers: [b.people.interviewer],
              // One unmapped observer: B's unreachable list has an entry.
              observers: [b.people.observer, `${b.slug}-ghost`],
            })
            .expect(201)
        ).body as { interview: { id: string; version: number } };
      const booked = await book(title, roomUrl);
      const toCancel = await book(`${title} (2)`, `${roomUrl}2`);
      await http()
        .post(`/api/interviews/${toCancel.interview.id}/cancel`)
        .auth(recruiter, { type: 'bearer' })
        .send({ reason: 'B canceled it' })
        .expect(200);
      const messageText = `B 的消息 ${tag}`;
      const idempotencyKey = `b-key-${tag}`;
      const sent = await http()
        .post('/api/messages')
        .auth(recruiter, { type: 'bearer' })
        .send({
          to: [{ platformUserId: SHARED.platformUserId }],
          ...textBody(messageText),
          idempotencyKey,
        })
        .expect(202);
      const failed = await http()
        .post('/api/messages')
        .auth(recruiter, { type: 'bearer' })
        .send({ to: [{ wecomUserId: `${b.slug}nobody` }], ...textBody(`${messageText} (lost)`) })
        .expect(202);
      // A's own interview and message, so A's lists are not empty.
      const aRecruiter = await as(a, 'recruiter', ['recruiter']);
      await http()
        .post('/api/interviews')
        .auth(aRecruiter, { type: 'bearer' })
        .send({
          title: 'A interview',
          candidate: { name: 'Candidate of A' },
          startsAt: new Date(Date.now() + 2 * DAY).toISOString(),
          durationMinutes: 45,
          roomUrl: 'https://www.showmebug.com/pads/AOWN1',
          interviewers: [a.people.interviewer],
        })
        .expect(201);
      await deliver();

      // B's interviewer taps "accept" in B's WeCom: the event goes to B's callback URL.
      const card = sim
        .corp(b.corpId)
        .messagesFor(b.members.interviewer)
        .find((m) =>
          (
            (m.body as { template_card?: { button_list?: { key: string }[] } }).template_card
              ?.button_list ?? []
          ).some((k) => k.key === `rsvp:accept:${booked.interview.id}`),
        );
      if (!card) throw new Error("B's invitation card was not delivered to B's corp");
      const tap = await sim
        .corp(b.corpId)
        .clickCard(b.members.interviewer, card.msgid, `rsvp:accept:${booked.interview.id}`);
      expect(tap.delivery).toMatchObject({ delivered: true });
      await settle();
      await deliver();

      const signIn = await startSignIn(b.slug);
      const version = (
        await http()
          .get(`/api/interviews/${booked.interview.id}`)
          .auth(recruiter, { type: 'bearer' })
          .expect(200)
      ).body.interview.version as number;

      const [newestAudit] = await db.ownerQuery<{ id: string }>(
        `SELECT max(id)::text AS id FROM config_audit WHERE organization_id = $1`,
        [b.id],
      );
      fixture = {
        interviewId: booked.interview.id,
        canceledInterviewId: toCancel.interview.id,
        interviewVersion: version,
        roomUrl,
        title,
        candidate,
        sentMessageId: sent.body.id as string,
        failedMessageId: failed.body.id as string,
        messageText,
        idempotencyKey,
        mappingIds: mappingIds.b!,
        signInState: signIn.state,
        auditCursor: Buffer.from(`audit:${Number(newestAudit!.id) + 1}`).toString('base64url'),
      };
      ctx = {
        a,
        b,
        fixture,
        signInForA: await startSignIn(a.slug),
        envelope,
        urlCheck,
        textEvent,
      };

      // A's callers: its admin, recruiter and interviewer, and the same roles held in A by people
      // whose platform ids are B's people's (the same person may work for both companies).
      identities = [];
      for (const [label, sub, roles] of [
        ['A admin', a.people.admin, ['admin']],
        ['A recruiter', a.people.recruiter, ['recruiter']],
        ['A interviewer', a.people.interviewer, ['interviewer']],
        ["A admin with B's admin's id", b.people.admin, ['admin']],
        ["A recruiter with B's recruiter's id", b.people.recruiter, ['recruiter']],
        ["A interviewer with B's interviewer's id", b.people.interviewer, ['interviewer']],
      ] as const) {
        identities.push({
          label,
          sub,
          roles: [...roles],
          token: await tokenIn(a.slug, sub, [...roles]),
        });
      }
    }, 120_000); // two organisations filled through the API, WeCom calls and a callback included

    afterEach(() => {
      // A's attempts to take B's WeCom app: the unique (corp_id, agent_id) refuses the UPDATE, which
      // the database logger reports, and the service answers 403.
      logs.take('error', /app_settings_corp_agent_key/);
      const errors = logs.lines('error');
      logs.entries.length = 0; // each test answers for its own
      expect(errors).toEqual([]);
    });

    afterAll(async () => {
      await app?.close();
      await sim?.stop();
      await db?.drop();
    });

    it('B is filled: it has rows in every organisation-owned table, its sent message reached its corp', async () => {
      const tables = await ownedTables();
      expect(tables.length).toBeGreaterThanOrEqual(12);
      const empty = Object.entries(await snapshot(b.id)).filter(([, s]) => s.startsWith('0 rows'));
      expect(empty).toEqual([]);
      const status = async (id: string) =>
        (
          await db.ownerQuery<{ status: string }>(`SELECT status FROM messages WHERE id = $1`, [id])
        )[0]?.status;
      expect(await status(fixture.sentMessageId)).toBe('sent');
      expect(await status(fixture.failedMessageId)).toBe('failed');
    });

    it("walks every route with A's callers against B's ids: 403 or 404, nothing of B's shown, nothing of B's changed", async () => {
      const before = await snapshot(b.id);
      const corpBefore = corpActivity(b.corpId);
      const secrets = await secretsOfB();
      expect(secrets.length).toBeGreaterThan(40);

      const wrong: string[] = [];
      const walked = new Map<string, number>();
      for (const route of routes) {
        const key = routeKey(route);
        // Path parameters: B's values, or the route cannot be walked.
        const values: Record<string, string[]> = {};
        for (const name of paramsOf(route.path)) {
          const of = PARAMS[`${route.controller}:${name}`];
          if (!of) {
            wrong.push(`${key}: no value of B's for :${name} (describe it in PARAMS)`);
            continue;
          }
          values[name] = of(ctx);
        }
        if (Object.keys(values).length < paramsOf(route.path).length) continue;
        const describe = WALK[key];
        if (!describe && BODY_METHODS.has(route.method)) {
          wrong.push(`${key}: takes a body the walk cannot make (describe it in WALK)`);
          continue;
        }
        const namesB = paramsOf(route.path).length > 0;
        // Public routes answer anyone: A's keys and sign-in are in the probes, not in a token.
        const callers = route.isPublic ? identities.slice(0, 1) : identities;
        for (const who of callers) {
          const probes = describe ? describe(ctx, who) : [{ what: 'bare' }];
          const allowed =
            route.isPublic ||
            route.roles === undefined ||
            who.roles.some((r) => (route.roles as string[]).includes(r));
          for (const path of fill(route.path, values)) {
            for (const probe of probes) {
              const expected = !allowed
                ? [403]
                : (probe.expect ?? (namesB ? [403, 404] : undefined));
              let req = http()[route.method.toLowerCase() as 'get'](path);
              if (!route.isPublic) req = req.auth(who.token, { type: 'bearer' });
              if (probe.query) req = req.query(probe.query);
              for (const [k, v] of Object.entries(probe.headers ?? {})) req = req.set(k, v);
              const res = await (probe.body === undefined ? req : req.send(probe.body as object));
              walked.set(key, (walked.get(key) ?? 0) + 1);
              const where = `${route.method} ${path} (${probe.what}) as ${route.isPublic ? 'A' : who.label}`;
              const ok = expected
                ? expected.includes(res.status)
                : res.status >= 200 && res.status < 400;
              if (!ok) {
                wrong.push(
                  `${where}: ${res.status}, expected ${expected?.join(' or ') ?? '2xx/3xx'} ${res.text.slice(0, 300)}`,
                );
              }
              // What A sent may come back (an echo is no leak); anything else of B's may not.
              const sent = [
                path,
                JSON.stringify(probe.query ?? {}),
                JSON.stringify(probe.body ?? ''),
                who.sub,
              ].join(' ');
              const answer = `${JSON.stringify(res.headers)} ${res.text}`;
              const leaked = await notA(
                secrets.filter((s) => answer.includes(s) && !sent.includes(s)),
              );
              if (leaked.length > 0)
                wrong.push(`${where}: the answer shows B's ${leaked.join(', ')}`);
            }
          }
        }
      }
      await settle();
      await deliver();

      expect(wrong).toEqual([]);
      // Every route was called, by every caller it has; and no description is left over from a
      // route that was renamed or removed (it would stand for a walk that no longer happens).
      expect(routes.filter((r) => !walked.has(routeKey(r))).map(routeKey)).toEqual([]);
      expect(Object.keys(WALK).filter((k) => !walked.has(k))).toEqual([]);
      const params = new Set(
        routes.flatMap((r) => paramsOf(r.path).map((p) => `${r.controller}:${p}`)),
      );
      expect(Object.keys(PARAMS).filter((k) => !params.has(k))).toEqual([]);
      process.stdout.write(
        `cross-organisation walk: ${routes.length} routes, ` +
          `${[...walked.values()].reduce((t, n) => t + n, 0)} requests as A against B\n`,
      );

      expect(await snapshot(b.id)).toEqual(before);
      // B's corp heard nothing but the token requests of A's attempts to take its app.
      const corpAfter = corpActivity(b.corpId);
      expect(corpAfter.received).toEqual(corpBefore.received);
      const { '/cgi-bin/gettoken': _before, ...callsBefore } = corpBefore.calls;
      const { '/cgi-bin/gettoken': _after, ...callsAfter } = corpAfter.calls;
      expect(callsAfter).toEqual(callsBefore);
    }, 300_000); // every route, three callers: hundreds of requests

    it("a callback for B signed and encrypted with A's keys is a 403, and nothing is stored", async () => {
      const before = await snapshot(b.id);
      const events = async () =>
        (await db.ownerQuery<{ n: number }>(`SELECT count(*)::int AS n FROM wecom_events`))[0]!.n;
      const total = await events();
      for (const keys of [keysOf(a), { ...keysOf(a), corpId: b.corpId }]) {
        const signed = envelope(textEvent(b.corpId, 'from A, for B'), keys);
        const res = await http()
          .post(`/wecom/callback/${b.slug}`)
          .query(signed.query)
          .set('content-type', 'text/xml')
          .send(signed.body);
        expect(res.status).toBe(403);
        expect(res.body).toMatchObject({ status: 403 });
      }
      await settle();
      expect(await events()).toBe(total);
      expect(await snapshot(b.id)).toEqual(before);
    });

    it("a sign-in state issued for A is refused on B's sign-in callback, and signs no one in", async () => {
      const before = await snapshot(b.id);
      const { state, cookie } = await startSignIn(a.slug);
      const res = await http()
        .get('/auth/wecom/callback')
        .query({
          org: b.slug,
          code: sim.corp(b.corpId).issueOAuthCode(b.members.interviewer),
          state,
        })
        .set('Cookie', cookie);
      expect(res.status).toBe(400);
      expect(res.headers.location).toBeUndefined();
      expect(res.text).not.toContain('token=');
      expect(await snapshot(b.id)).toEqual(before);
    });

    it("an A admin PATCHing the admin config with B's corp id and secret gets 403; B's app stays B's, A's stays A's", async () => {
      const before = await snapshot(b.id);
      const aAdmin = await as(a, 'admin', ['admin']);
      const bAdmin = await as(b, 'admin', ['admin']);
      const bView = (
        await http().get('/api/admin/config').auth(bAdmin, { type: 'bearer' }).expect(200)
      ).body;
      const res = await http()
        .patch('/api/admin/config')
        .auth(aAdmin, { type: 'bearer' })
        .send({ corpId: b.corpId, agentId: b.agentId, corpSecret: b.corpSecret })
        .expect(403);
      expect(res.body).toMatchObject({ status: 403 });
      expect(res.text).not.toContain(b.corpSecret);
      expect(await snapshot(b.id)).toEqual(before);
      // B's configuration as B sees it, but for the token's countdown, which moves meanwhile.
      const withoutCountdown = (view: { token?: Record<string, unknown> }) => ({
        ...view,
        token: { ...view.token, tokenSecondsLeft: undefined },
      });
      expect(
        withoutCountdown(
          (await http().get('/api/admin/config').auth(bAdmin, { type: 'bearer' }).expect(200)).body,
        ),
      ).toEqual(withoutCountdown(bView));
      const aView = (
        await http().get('/api/admin/config').auth(aAdmin, { type: 'bearer' }).expect(200)
      ).body;
      expect(aView).toMatchObject({ corpId: a.corpId, agentId: a.agentId });
    });

    it('a token without an org claim is a 401 on every /api route, now that there are several organisations', async () => {
      const token = await tokenIn(undefined, a.people.admin, ['admin', 'recruiter', 'interviewer']);
      const wrong: string[] = [];
      for (const route of routes.filter((r) => r.path.startsWith('/api/') && !r.isPublic)) {
        if (route.roles?.includes('operator' as never)) continue; // operators name no organisation
        const path = route.path.replace(/:[A-Za-z_]\w*/g, fixture.interviewId);
        const method = route.method.toLowerCase() as 'get';
        const res = await http()[method](path).auth(token, { type: 'bearer' });
        if (res.status !== 401 || !/org/.test(String(res.body.detail))) {
          wrong.push(`${routeKey(route)}: ${res.status} ${String(res.body.detail)}`);
        }
      }
      expect(wrong).toEqual([]);
    });

    /**
     * The RLS proof (#12 "Done when"), on the service's own pool: the DataSource the service runs
     * on, connected as the restricted role (TEST_APP_ROLE, as CI sets it), its sessions used by the
     * walk above, asked with no organisation: it sees no row of any organisation-owned table, though
     * A and B have rows in all of them. That unscoped inserts, updates and deletes are refused or
     * touch nothing, table by table, is src/database/organization-isolation.spec.ts.
     */
    it('under the app role, an unscoped query on the service’s own DataSource sees nothing of any organisation', async () => {
      const unscoped = app.get(DataSource);
      expect(await unscoped.query(`SELECT current_user AS user`)).toEqual([{ user: testAppRole }]);
      const seen: Record<string, number> = {};
      const there: Record<string, number> = {};
      for (const table of await ownedTables()) {
        const [row] = await unscoped.query(`SELECT count(*)::int AS n FROM "${table}"`);
        seen[table] = (row as { n: number }).n;
        const [own] = await db.ownerQuery<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${table}" WHERE organization_id IN ($1, $2)`,
          [a.id, b.id],
        );
        there[table] = own!.n;
      }
      expect(Object.entries(there).filter(([, n]) => n === 0)).toEqual([]);
      expect(Object.entries(seen).filter(([, n]) => n !== 0)).toEqual([]);
    });
  },
);
