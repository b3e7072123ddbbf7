import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { format } from 'node:util';

import { Logger, type INestApplication, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import * as wecom from '@wecom/crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';

import { AppModule } from '../../src/app.module.js';
import { mintToken } from '../../src/auth/jwt-verifier.js';
import type { Role } from '../../src/auth/roles.js';
import { AppLogger } from '../../src/common/app-logger.js';
import { Clock, ManualClock } from '../../src/common/clock.js';
import { MessageDispatcher } from '../../src/messaging/message-dispatcher.js';
import { WeComClient } from '../../src/wecom/client/wecom.client.js';
import { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { AccessTokenProvider } from '../../src/wecom/token/access-token.provider.js';
import { inOrganization } from '../support/in-organization.js';
import { initHttpApp, testEnv } from '../support/test-app.js';
import { createTestDatabase, hasServer, type TestDatabase } from '../support/test-database.js';
import { signedCallback } from '../support/wecom-callback-envelope.js';

// Distinctive values, so that finding one in a log line cannot be a coincidence.
const canary = (name: string) => `${name}LeakCanary${randomBytes(6).toString('hex')}`;
const CORP_ID = 'ww-leakcheck';
const CORP_SECRET = canary('CorpSecret');
const WRONG_CORP_SECRET = canary('WrongCorpSecret');
const JWT_SECRET = canary('JwtSecret-');
const CALLBACK_TOKEN = canary('CbTok').slice(0, 32);
const AES_KEY = randomBytes(32).toString('base64').slice(0, 43);
const METRICS_TOKEN = canary('MetricsToken');
const DB_PASSWORD = canary('DbPass');
const ENCRYPTION_KEY = `k1:${randomBytes(32).toString('base64')}`;
const FRONTEND = 'https://interviews.example.com/app';

/** Everything written to stdout/stderr or the console while the spec runs. */
class OutputCapture {
  readonly chunks: string[] = [];
  private restore: (() => void)[] = [];

  start(): void {
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write;
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        this.chunks.push(
          typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString(),
        );
        const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        done?.();
        return true;
      }) as typeof stream.write;
      this.restore.push(() => (stream.write = original));
    }
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      const original = console[method];
      console[method] = (...args: unknown[]) => void this.chunks.push(`${format(...args)}\n`);
      this.restore.push(() => (console[method] = original));
    }
  }

  stop(): void {
    for (const undo of this.restore.reverse()) undo();
    this.restore = [];
  }

  get text(): string {
    return this.chunks.join('');
  }
}

/** Every response the server sends: status, headers and body, whatever the route. */
function recordResponses(
  server: Server,
  into: { url: string; status: number; headers: string; body: string }[],
) {
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
    const keep = (chunk: unknown, encoding?: unknown) => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
      parts.push(
        typeof chunk === 'string'
          ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
          : Buffer.from(chunk as Uint8Array),
      );
    };
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      keep(chunk, rest[0]);
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      keep(chunk, rest[0]);
      return end(chunk, ...rest);
    }) as typeof res.end;
    res.on('finish', () =>
      into.push({
        url: req.url ?? '',
        status: res.statusCode,
        headers: JSON.stringify(res.getHeaders()),
        body: Buffer.concat(parts).toString('utf8'),
      }),
    );
  });
}

describe('No secret in logs, responses or /docs (full flow, debug logs captured)', () => {
  const capture = new OutputCapture();
  const responses: { url: string; status: number; headers: string; body: string }[] = [];
  const minted: string[] = [];
  const oauthCodes: string[] = [];
  /** Values of the sign-in cookie that binds an OAuth state to a browser. */
  const signInCookies: string[] = [];
  let signedInJwt = '';
  let db: TestDatabase;
  let wrongDb: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let wrongApp: INestApplication;
  const http = () => request(app.getHttpServer());
  const enc = (s: string) => new TextEncoder().encode(s);
  const now = () => Math.floor(clock.nowMs() / 1000);

  async function token(sub: string, ...roles: Role[]): Promise<string> {
    const jwt = await mintToken(enc(JWT_SECRET), { id: sub, roles });
    minted.push(jwt);
    return jwt;
  }

  /** The app as main.ts builds it, logging through AppLogger at debug level. */
  async function bootApp(
    database: TestDatabase,
    logger: LoggerService,
    overrides: Record<string, string> = {},
  ): Promise<INestApplication> {
    const { DATABASE_URL, DATABASE_MIGRATION_URL } = database.env;
    const env = testEnv({
      DATABASE_URL: withPassword(DATABASE_URL),
      DATABASE_MIGRATION_URL: DATABASE_MIGRATION_URL && withPassword(DATABASE_MIGRATION_URL),
      LOG_LEVEL: 'debug',
      AUTH_JWT_SECRET: JWT_SECRET,
      WECOM_CORP_ID: CORP_ID,
      WECOM_CORP_SECRET: CORP_SECRET,
      WECOM_AGENT_ID: '1000002',
      WECOM_API_BASE_URL: sim.url,
      WECOM_HTTP_TIMEOUT_MS: '2000',
      WECOM_CALLBACK_TOKEN: CALLBACK_TOKEN,
      WECOM_CALLBACK_AES_KEY: AES_KEY,
      METRICS_TOKEN,
      APP_ENCRYPTION_KEY: ENCRYPTION_KEY,
      FRONTEND_URL: FRONTEND,
      PUBLIC_BASE_URL: 'https://wecom-bridge.example.com',
      ...overrides,
    });
    const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(env)] })
      .setLogger(logger)
      .overrideProvider(Clock)
      .useValue(clock)
      .compile();
    const nest = await initHttpApp(moduleRef, env, logger);
    nest.get(WeComClient).backoff = { maxRetries: 1, baseDelayMs: 5, maxDelayMs: 10 };
    recordResponses(nest.getHttpServer() as Server, responses);
    return nest;
  }

  /** A database URL that carries a password (trust auth ignores it), so it is one more secret. */
  function withPassword(url: string): string {
    if (!hasServer) return url;
    const u = new URL(url);
    u.password = DB_PASSWORD;
    return u.toString();
  }

  function envelope(inner: string, opts: { token?: string; timestamp?: number } = {}) {
    return signedCallback(
      inner,
      { token: opts.token ?? CALLBACK_TOKEN, aesKey: AES_KEY, corpId: CORP_ID },
      { timestamp: opts.timestamp ?? now(), agentId: '1000002' },
    );
  }

  const event = (key: string) =>
    `<xml><ToUserName><![CDATA[${CORP_ID}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>` +
    `<CreateTime>${now()}</CreateTime><MsgType><![CDATA[event]]></MsgType>` +
    `<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[${key}]]></EventKey>` +
    `<TaskId><![CDATA[t-${key}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>` +
    `<ResponseCode><![CDATA[rc-1]]></ResponseCode><AgentID>1000002</AgentID></xml>`;

  async function deliver(): Promise<void> {
    for (let i = 0; i < 5; i++) {
      await app.get(MessageDispatcher).drain();
      clock.advance(61_000);
    }
  }

  beforeAll(async () => {
    clock = new ManualClock(new Date('2026-11-23T10:00:00Z'));
    sim = new WeComSimulator({
      corpId: CORP_ID,
      corpSecret: CORP_SECRET,
      now: () => clock.nowMs(),
    });
    await sim.start();
    db = await createTestDatabase();
    wrongDb = await createTestDatabase();
    capture.start();
    try {
      await runFlow();
    } catch (error) {
      capture.stop();
      // What the app logged before the flow broke is the first thing anyone will want to see.
      process.stderr.write(
        `flow failed; last captured lines:\n${capture.text.split('\n').slice(-30).join('\n')}\n`,
      );
      throw error;
    } finally {
      capture.stop();
    }
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await wrongApp?.close();
    await sim?.stop();
    await db?.drop();
    await wrongDb?.drop();
  });

  async function runFlow(): Promise<void> {
    // Production's format (JSON lines) for the main app.
    app = await bootApp(db, new AppLogger('json', 'debug'));
    const admin = await token('admin-1', 'admin');
    const recruiter = await token('rec-1', 'recruiter');
    const interviewer = await token('u1', 'interviewer');
    const as = (jwt: string) => ({ authorization: `Bearer ${jwt}` });

    await http().get('/health').expect(200);
    for (const m of [
      { platformUserId: 'u1', wecomUserId: 'zhangsan' },
      { platformUserId: 'u2', mobile: '13800000002' },
    ]) {
      await http().post('/api/user-mappings').set(as(admin)).send(m).expect(201);
    }
    await http()
      .post('/api/user-mappings')
      .set(as(admin))
      .send({ platformUserId: 'u9', wecomUserId: 'ghost' })
      .expect(422);

    // Messages through the simulator; then a revoked token (40014) and an "expired" one (42001).
    const send = (content: string) =>
      http()
        .post('/api/messages')
        .set(as(recruiter))
        .send({
          to: [{ platformUserId: 'u1' }, { platformUserId: 'u2' }],
          msgtype: 'text',
          text: { content },
        })
        .expect(202);
    const first = await send('第一条消息');
    await deliver();
    clock.advance(5000); // gettoken calls are at least 5 s apart
    sim.revokeTokens();
    await send('after the revoke');
    await deliver();
    clock.advance(5000);
    sim.addFault({ path: '/cgi-bin/message/send', errcode: 42001, times: 1 });
    await send('after an expired token');
    await deliver();
    sim.addFault({ path: '/cgi-bin/message/send', errcode: 60020, times: 3 });
    const refused = await send('refused by WeCom');
    await deliver();
    sim.clearFaults();
    await http().get(`/api/messages/${refused.body.id}`).set(as(recruiter)).expect(200);
    await http().get('/api/messages').set(as(admin)).expect(200);
    await http().post(`/api/messages/${first.body.id}/recall`).set(as(recruiter)).expect(200);
    expect(sim.messagesFor('zhangsan').length).toBeGreaterThanOrEqual(3);

    // A failing query whose parameters hold the live access token.
    const live = await inOrganization(() => app.get(AccessTokenProvider).getToken());
    await expect(
      app.get(DataSource).query('SELECT $1::text AS t FROM no_such_table', [live]),
    ).rejects.toThrow();
    await expect(app.get(DataSource).query('SELECT $1::uuid AS t', [live])).rejects.toThrow();

    // Callbacks: a good one, then tampered signatures, a wrong token, a stale timestamp.
    const good = envelope(event('poll:ok'));
    await http()
      .post('/wecom/callback')
      .query(good.query)
      .set('content-type', 'text/xml')
      .send(good.body)
      .expect(200);
    const tampered = envelope(event('poll:tampered'));
    await http()
      .post('/wecom/callback')
      .query({ ...tampered.query, msg_signature: 'f'.repeat(40) })
      .set('content-type', 'text/xml')
      .send(tampered.body)
      .expect(403);
    const forged = envelope(event('poll:forged'), { token: 'NotTheCallbackToken' });
    await http()
      .post('/wecom/callback')
      .query(forged.query)
      .set('content-type', 'text/xml')
      .send(forged.body)
      .expect(403);
    const stale = envelope(event('poll:stale'), { timestamp: now() - 3600 });
    await http()
      .post('/wecom/callback')
      .query(stale.query)
      .set('content-type', 'text/xml')
      .send(stale.body)
      .expect(400);
    await http()
      .post('/wecom/callback')
      .query(good.query)
      .set('content-type', 'text/xml')
      .send('<xml><Encrypt><![CDATA[bm90IGVuY3J5cHRlZA==]]></Encrypt></xml>')
      .expect((res) => expect([400, 403]).toContain(res.status));
    const echostr = wecom.encrypt(AES_KEY, 'echo-1616140317', CORP_ID);
    const ts = String(now());
    await http()
      .get('/wecom/callback')
      .query({
        msg_signature: wecom.getSignature(CALLBACK_TOKEN, ts, 'n1', echostr),
        timestamp: ts,
        nonce: 'n1',
        echostr,
      })
      .expect(200);
    await http()
      .get('/wecom/callback')
      .query({ msg_signature: '0'.repeat(40), timestamp: ts, nonce: 'n1', echostr })
      .expect(403);

    // OAuth sign-in: a good round trip, a reused code, an unknown code.
    const login = await http()
      .get('/auth/wecom/login')
      .query({ redirect: '/interviews' })
      .expect(302);
    const state = new URL(login.headers.location as string).searchParams.get('state')!;
    // The browser's sign-in cookie, which the state is bound to.
    const browser = ([] as string[]).concat(login.headers['set-cookie'] ?? [])[0]!.split(';')[0]!;
    signInCookies.push(browser.slice(browser.indexOf('=') + 1));
    const code = sim.issueOAuthCode('zhangsan');
    oauthCodes.push(code);
    const done = await http()
      .get('/auth/wecom/callback')
      .query({ code, state })
      .set('Cookie', browser)
      .expect(302);
    signedInJwt = (done.headers.location as string).split('#token=')[1] ?? '';
    expect(signedInJwt.split('.')).toHaveLength(3);
    minted.push(signedInJwt);
    await http().get('/api/me').set(as(signedInJwt)).expect(200);
    const again = await http().get('/auth/wecom/login').set('Cookie', browser).expect(302);
    const state2 = new URL(again.headers.location as string).searchParams.get('state')!;
    await http()
      .get('/auth/wecom/callback')
      .query({ code, state: state2 })
      .set('Cookie', browser)
      .expect((res) => expect(res.status).toBeGreaterThanOrEqual(400));
    const again3 = await http().get('/auth/wecom/login').set('Cookie', browser).expect(302);
    const state3 = new URL(again3.headers.location as string).searchParams.get('state')!;
    await http()
      .get('/auth/wecom/callback')
      .query({ code: 'not-a-code-we-issued', state: state3 })
      .set('Cookie', browser)
      .expect((res) => expect(res.status).toBeGreaterThanOrEqual(400));
    // A state opened without its browser's cookie (login CSRF), refused.
    const again4 = await http().get('/auth/wecom/login').expect(302);
    const state4 = new URL(again4.headers.location as string).searchParams.get('state')!;
    await http()
      .get('/auth/wecom/callback')
      .query({ code: sim.issueOAuthCode('zhangsan'), state: state4 })
      .expect(400);

    // JS-SDK config, before and after the tickets are revoked; then WeCom refusing tickets.
    const page = `${FRONTEND}/interviews?x=1`;
    await http()
      .get('/api/wecom/jssdk-config')
      .query({ url: page })
      .set(as(interviewer))
      .expect(200);
    sim.revokeTokens();
    clock.advance(3 * 3600_000);
    // On PGlite (one session) a ticket refresh that must also refresh the token waits on itself
    // until the pool times out: known, reported, and not this spec's subject.
    if (!hasServer) await inOrganization(() => app.get(AccessTokenProvider).getToken());
    await http()
      .get('/api/wecom/jssdk-config')
      .query({ url: page })
      .set(as(interviewer))
      .expect(200);
    if (hasServer) {
      // WeCom refusing tickets (a 502); on PGlite the retries outlast the pool's timeout.
      sim.addFault({ path: '/cgi-bin/get_jsapi_ticket', errcode: -1 });
      sim.addFault({ path: '/cgi-bin/ticket/get', errcode: -1 });
      clock.advance(3 * 3600_000);
      await http()
        .get('/api/wecom/jssdk-config')
        .query({ url: page })
        .set(as(interviewer))
        .expect(502);
    }
    sim.clearFaults();

    // Validation errors, bad JSON, an oversized body, unknown routes, wrong tokens.
    await http()
      .post('/api/messages')
      .set(as(recruiter))
      .send({ to: [], msgtype: 'nope', extra: CORP_SECRET })
      .expect(400);
    await http()
      .post('/api/user-mappings')
      .set(as(admin))
      .send({ platformUserId: '', token: JWT_SECRET })
      .expect(400);
    await http()
      .post('/api/messages')
      .set(as(recruiter))
      .set('content-type', 'application/json')
      .send('{"to": [')
      .expect(400);
    await http()
      .post('/api/messages')
      .set(as(recruiter))
      .set('content-type', 'application/json')
      .send(JSON.stringify({ pad: 'x'.repeat(300 * 1024) }))
      .expect(413);
    await http()
      .get('/api/interviews')
      .query({ cursor: 'garbage!!' })
      .set(as(recruiter))
      .expect(400);
    await http().get('/api/no-such-route').set(as(admin)).expect(404);
    await http().get(`/no-such-page?access_token=${live}&token=${admin}`).expect(404);
    await http()
      .get('/api/me')
      .set(as(await mintToken(enc('another-secret-entirely-0000'), { id: 'x', roles: ['admin'] })))
      .expect(401);
    await http()
      .get('/api/me')
      .set(as(admin.slice(0, -4) + 'AAAA'))
      .expect(401);
    await http().get('/metrics').expect(401);
    await http().get('/metrics').set(as(METRICS_TOKEN)).expect(200);
    await http().get('/docs-json').expect(200);
    await http().get('/docs/').expect(200);

    // An internal error: the token store is gone when a fresh token must be saved, so the
    // failing statement carries the new access token as a parameter (a 500 to the caller).
    new Logger('LeakProbe').debug('debug lines are captured too');
    clock.advance(5000); // gettoken calls are at least 5 s apart
    sim.revokeTokens();
    await db.ownerQuery('ALTER TABLE wecom_credentials RENAME TO wecom_credentials_gone');
    try {
      await http()
        .post('/api/user-mappings')
        .set(as(admin))
        .send({ platformUserId: 'u7', wecomUserId: 'lisi' })
        .expect(500);
    } finally {
      await db.ownerQuery('ALTER TABLE wecom_credentials_gone RENAME TO wecom_credentials');
    }

    // A wrong corp secret (gettoken 40001), on an instance logging in the readable format.
    wrongApp = await bootApp(wrongDb, new AppLogger('pretty', 'debug'), {
      WECOM_CORP_SECRET: WRONG_CORP_SECRET,
    });
    const wrongAdmin = await token('admin-2', 'admin');
    await request(wrongApp.getHttpServer())
      .post('/api/user-mappings')
      .set(as(wrongAdmin))
      .send({ platformUserId: 'u1', wecomUserId: 'zhangsan' })
      .expect((res) => expect(res.status).toBeGreaterThanOrEqual(400));
    // Its health report is one more response to search (the 40001 itself is asserted in the log).
    await request(wrongApp.getHttpServer()).get('/health');
  }

  const secrets = (): [string, string][] => {
    const issued = sim.issuedCredentials();
    return [
      ['the corp secret', CORP_SECRET],
      ['the wrong corp secret', WRONG_CORP_SECRET],
      ['the JWT secret', JWT_SECRET],
      ['the callback token', CALLBACK_TOKEN],
      ['the EncodingAESKey', AES_KEY],
      ['the metrics token', METRICS_TOKEN],
      ['the encryption key', ENCRYPTION_KEY.split(':')[1]!],
      ...(hasServer ? ([['the database password', DB_PASSWORD]] as [string, string][]) : []),
      ...issued.accessTokens.map((t, i): [string, string] => [`access token #${i + 1}`, t]),
      ...issued.jsapiTickets.map((t, i): [string, string] => [`jsapi ticket #${i + 1}`, t]),
      ...minted.map((t, i): [string, string] => [`minted JWT #${i + 1}`, t]),
      ...oauthCodes.map((c, i): [string, string] => [`OAuth code #${i + 1}`, c]),
    ];
  };

  it('captured the flow: known lines are there, at debug level, from both log formats', () => {
    const text = capture.text;
    expect(text.length).toBeGreaterThan(2000);
    expect(text).toContain('Mapped {/api/me, GET} route');
    expect(text).toContain('Refused a callback');
    expect(text).toContain('signed in as platform user u1');
    expect(text).toMatch(
      /WeCom refused the configuration of organisation default \(errcode 40001\): WeCom rejected the app Secret/,
    );
    expect(text).toContain('query failed');
    expect(text).toContain('debug lines are captured too');
    expect(text).toMatch(/POST \/api\/user-mappings failed: .*wecom_credentials/);
    // JSON lines from the main app, readable lines from the second one.
    expect(text).toMatch(/^\{"level":"log".*"context":"RouterExplorer"/m);
    expect(text).toMatch(/\[Nest\] \d+ +- .*WeComSettings|\[Nest\] \d+ +- .*RouterExplorer/);
    expect(responses.length).toBeGreaterThan(40);
    expect(sim.issuedCredentials().accessTokens.length).toBeGreaterThanOrEqual(3);
    expect(sim.issuedCredentials().jsapiTickets.length).toBeGreaterThanOrEqual(4);
  });

  it('writes no secret, token or ticket to the logs', () => {
    const text = capture.text;
    // The sign-in cookie is no secret in responses (Set-Cookie delivers it) but never logged.
    const cookies = signInCookies.map((c, i): [string, string] => [`sign-in cookie #${i + 1}`, c]);
    expect(cookies.length).toBeGreaterThan(0);
    const leaked = [...secrets(), ...cookies]
      .filter(([, value]) => text.includes(value))
      .map(([name]) => name);
    expect(leaked).toEqual([]);
  });

  it('puts no secret, token or ticket in any response (the sign-in JWT only in its redirect)', () => {
    const leaks: string[] = [];
    for (const r of responses) {
      // The sign-in hands its JWT to the browser in the redirect's fragment (Location, and the
      // "Redirecting to" body Express writes beside it): that is the delivery, not a leak.
      const signIn = r.url.startsWith('/auth/wecom/callback') && r.status === 302;
      const allowed = (text: string) =>
        signIn ? text.split(`#token=${signedInJwt}`).join('#token=') : text;
      for (const [name, value] of secrets()) {
        const where = `${r.status} ${r.url.split('?')[0]}`;
        if (allowed(r.body).includes(value)) leaks.push(`${name} in the body of ${where}`);
        if (allowed(r.headers).includes(value)) leaks.push(`${name} in the headers of ${where}`);
      }
    }
    expect(leaks).toEqual([]);
    // The sign-in did deliver the JWT, so the allowance above was needed for that one only.
    const signIns = responses.filter(
      (r) => r.url.startsWith('/auth/wecom/callback') && r.status === 302,
    );
    expect(signIns.some((r) => r.headers.includes(`#token=${signedInJwt}`))).toBe(true);
  });

  it('keeps every secret out of /docs-json', async () => {
    const docs = await http().get('/docs-json').expect(200);
    const text = docs.text;
    expect(text).toContain('/api/messages');
    expect(
      secrets()
        .filter(([, v]) => text.includes(v))
        .map(([n]) => n),
    ).toEqual([]);
  });
});
