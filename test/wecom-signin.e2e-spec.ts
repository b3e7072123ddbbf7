import type { INestApplication } from '@nestjs/common';
import { decodeJwt } from 'jose';
import request from 'supertest';

import { DEFAULT_ORGANIZATION } from '../src/organizations/organization.js';
import { ManualClock } from '../src/common/clock.js';
import { OrganizationsService } from '../src/organizations/organizations.service.js';
import { jssdkSignature } from '../src/wecom/callback/jssdk-signature.js';
import { JsapiTicketProvider } from '../src/wecom/jssdk/jsapi-ticket.provider.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { AccessTokenProvider } from '../src/wecom/token/access-token.provider.js';
import { SecretBox } from '../src/settings/secret-box.js';
import { inOrganization } from './support/in-organization.js';
import { LogRecorder } from './support/log-recorder.js';
import { createTestApp, simulatorEnv, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const FRONTEND = 'https://interviews.example.com/app';
const PUBLIC_BASE = 'https://wecom-bridge.example.com';

describe('Sign-in with WeCom (e2e against the simulator)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());

  /** The sign-in cookie (`name=value`) each state was issued with, and the latest one. */
  const cookieOfState = new Map<string, string>();
  let lastCookie: string | undefined;

  /** The `name=value` of the sign-in cookie a response sets. */
  const signInCookie = (res: request.Response): string => {
    const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    const found = set.find((c) => c.startsWith('wecom_signin='));
    expect(found).toBeDefined();
    return found!.split(';')[0]!;
  };

  /** Starts a sign-in in "this browser" and returns the state WeCom would carry back. */
  async function startLogin(redirect: string | null = '/interviews/42?tab=notes'): Promise<string> {
    const res = await http()
      .get('/auth/wecom/login')
      .query(redirect === null ? {} : { redirect })
      .expect(302);
    const state = new URL(res.headers.location as string).searchParams.get('state');
    expect(state).toBeTruthy();
    lastCookie = signInCookie(res);
    cookieOfState.set(state!, lastCookie);
    return state!;
  }

  /** WeCom sends the browser back; it carries the cookie of its sign-in unless told otherwise. */
  const finish = (
    code: string | undefined,
    state: string | undefined,
    cookie: string | null = (state && cookieOfState.get(state)) || lastCookie || null,
  ) => {
    const req = http()
      .get('/auth/wecom/callback')
      .query({ ...(code ? { code } : {}), ...(state ? { state } : {}) });
    return cookie === null ? req : req.set('Cookie', cookie);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T10:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    app = await createTestApp(
      {
        ...db.env,
        ...simulatorEnv(sim.url),
        FRONTEND_URL: FRONTEND,
        PUBLIC_BASE_URL: PUBLIC_BASE,
      },
      { clock },
    );
    const admin = await tokenFor('admin-1', 'admin');
    await http()
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u1', wecomUserId: 'zhangsan' })
      .expect(201);
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  describe('GET /auth/wecom/login', () => {
    it('redirects to the WeCom authorize page with a short alphanumeric state', async () => {
      const res = await http().get('/auth/wecom/login?redirect=/interviews').expect(302);
      const location = res.headers.location as string;
      expect(location).toMatch(
        /^https:\/\/open\.weixin\.qq\.com\/connect\/oauth2\/authorize\?appid=ww-sandbox&redirect_uri=.+&response_type=code&scope=snsapi_base&state=[a-zA-Z0-9]+&agentid=1000002#wechat_redirect$/,
      );
      const url = new URL(location);
      expect(url.searchParams.get('redirect_uri')).toBe(`${PUBLIC_BASE}/auth/wecom/callback`);
      const state = url.searchParams.get('state')!;
      expect(Buffer.byteLength(state)).toBeLessThanOrEqual(128);
      expect(state).not.toContain('interviews');
    });

    it('redirects to the QR login page with mode=qr', async () => {
      const res = await http().get('/auth/wecom/login?mode=qr').expect(302);
      const url = new URL(res.headers.location as string);
      expect(url.origin + url.pathname).toBe('https://login.work.weixin.qq.com/wwlogin/sso/login');
      expect(Object.fromEntries(url.searchParams)).toMatchObject({
        login_type: 'CorpApp',
        appid: 'ww-sandbox',
        agentid: '1000002',
        redirect_uri: `${PUBLIC_BASE}/auth/wecom/callback`,
      });
      expect(url.searchParams.get('state')).toMatch(/^[a-zA-Z0-9]{1,128}$/);
    });

    it.each([
      ['an absolute URL', 'https://evil.example.com/'],
      ['a protocol-relative URL', '//evil.example.com/x'],
      ['a backslash path', '/\\evil.example.com'],
      ['a relative path', 'interviews'],
      ['a fragment', '/interviews#x'],
      ['a path leaving FRONTEND_URL', '/../admin'],
      ['a javascript: URL', 'javascript:alert(1)'],
    ])('refuses %s as redirect with a 400 page', async (_label, redirect) => {
      const res = await http().get('/auth/wecom/login').query({ redirect }).expect(400);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers.location).toBeUndefined();
      expect(res.text).not.toContain('<script');
    });

    it('refuses an unknown mode', async () => {
      await http().get('/auth/wecom/login?mode=popup').expect(400);
    });
  });

  describe('GET /auth/wecom/callback', () => {
    it('signs a mapped member in: 302 to the frontend with a JWT that /api/me accepts', async () => {
      const state = await startLogin();
      const res = await finish(sim.issueOAuthCode('zhangsan'), state).expect(302);
      const location = res.headers.location as string;
      const prefix = `${FRONTEND}/interviews/42?tab=notes#token=`;
      expect(location.startsWith(prefix)).toBe(true);
      const jwt = location.slice(prefix.length);
      const me = await http().get('/api/me').auth(jwt, { type: 'bearer' }).expect(200);
      expect(me.body).toEqual({
        id: 'u1',
        roles: ['interviewer'],
        organization: { ...DEFAULT_ORGANIZATION, name: 'Default' },
      });
      const claims = decodeJwt(jwt);
      expect(claims.exp! - claims.iat!).toBe(8 * 3600);
      expect(res.headers['cache-control']).toBe('no-store');
    });

    it('defaults the redirect to the frontend root', async () => {
      const state = await startLogin(null);
      const res = await finish(sim.issueOAuthCode('zhangsan'), state).expect(302);
      expect(res.headers.location).toMatch(new RegExp(`^${FRONTEND}/#token=`));
    });

    it('refuses a state used twice', async () => {
      const state = await startLogin();
      await finish(sim.issueOAuthCode('zhangsan'), state).expect(302);
      const res = await finish(sim.issueOAuthCode('zhangsan'), state).expect(400);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toContain('invalid, expired or already used');
      expect(res.text).not.toContain('#token=');
    });

    it('refuses a code used twice (WeCom 40029)', async () => {
      const code = sim.issueOAuthCode('zhangsan');
      await finish(code, await startLogin()).expect(302);
      const res = await finish(code, await startLogin()).expect(400);
      expect(res.text).toContain('authorisation code is invalid');
      expect(res.text).not.toContain(code);
    });

    it('refuses an expired state (over 10 minutes)', async () => {
      const state = await startLogin();
      clock.advance(11 * 60_000);
      await finish(sim.issueOAuthCode('zhangsan'), state).expect(400);
    });

    it.each([
      ['a forged signature', (s: string) => s.slice(0, -1) + (s.endsWith('0') ? '1' : '0')],
      ['a made-up state', () => 'a'.repeat(72)],
      ['garbage', () => 'not-a-state!'],
      ['no state', () => undefined],
    ])('refuses %s', async (_label, tamper) => {
      const state = await startLogin();
      await finish(sim.issueOAuthCode('zhangsan'), tamper(state)).expect(400);
    });

    it('refuses a forged state without burning the real one', async () => {
      const state = await startLogin();
      const forged = state.slice(0, -1) + (state.endsWith('0') ? '1' : '0');
      await finish(sim.issueOAuthCode('zhangsan'), forged).expect(400);
      await finish(sim.issueOAuthCode('zhangsan'), state).expect(302);
    });

    it('refuses a missing code', async () => {
      await finish(undefined, await startLogin()).expect(400);
    });

    it('refuses someone outside the corp (openid) with a 403 page', async () => {
      const res = await finish(sim.issueExternalOAuthCode('o-outsider'), await startLogin()).expect(
        403,
      );
      expect(res.text).toContain('Only members');
    });

    describe('binds the state to the browser that started the sign-in (login CSRF)', () => {
      const getuserinfoCalls = () => sim.stats().calls['/cgi-bin/auth/getuserinfo'] ?? 0;

      beforeAll(async () => {
        sim.addUsers([{ userid: 'attacker', name: 'Mallory' }]);
        const admin = await tokenFor('admin-1', 'admin');
        await http()
          .post('/api/user-mappings')
          .auth(admin, { type: 'bearer' })
          .send({ platformUserId: 'u-attacker', wecomUserId: 'attacker' })
          .expect(201);
      });

      /**
       * The attack: Mallory starts a sign-in in her browser, lets WeCom authorise her own
       * account, and stops before the callback; the callback URL (her code, her state) is
       * the link she gets the victim to open.
       */
      async function attackersLink(): Promise<{ code: string; state: string }> {
        const res = await http().get('/auth/wecom/login').query({ redirect: '/x' }).expect(302);
        const state = new URL(res.headers.location as string).searchParams.get('state')!;
        return { code: sim.issueOAuthCode('attacker'), state };
      }

      it('sets an HttpOnly, SameSite=Lax, Secure cookie limited to the sign-in routes', async () => {
        const res = await http().get('/auth/wecom/login').expect(302);
        const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
        expect(set).toHaveLength(1);
        const attrs = set[0]!.split(';').map((a) => a.trim());
        expect(attrs[0]).toMatch(/^wecom_signin=[A-Za-z0-9_-]{43}$/);
        expect(attrs).toEqual(
          expect.arrayContaining(['Path=/auth/wecom', 'HttpOnly', 'Secure', 'SameSite=Lax']),
        );
        expect(attrs.find((a) => a.startsWith('Max-Age='))).toBe('Max-Age=600');
        // The state commits to the cookie without carrying it.
        const state = new URL(res.headers.location as string).searchParams.get('state')!;
        expect(state).toMatch(/^[0-9a-f]{104}$/);
        expect(state).not.toContain(attrs[0]!.slice('wecom_signin='.length));
      });

      it('does not sign a victim without the cookie in as the attacker (400 page, no token, WeCom not asked)', async () => {
        const { code, state } = await attackersLink();
        const before = getuserinfoCalls();
        const res = await finish(code, state, null).expect(400);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.headers.location).toBeUndefined();
        expect(res.text).toContain('not started in this browser');
        expect(res.text).not.toContain('token');
        expect(getuserinfoCalls()).toBe(before);
      });

      it('does not sign in a victim whose own sign-in cookie is another one', async () => {
        await startLogin('/mine'); // the victim's browser holds a cookie of its own
        const { code, state } = await attackersLink();
        const res = await finish(code, state, lastCookie!).expect(400);
        expect(res.text).toContain('not started in this browser');
        expect(res.headers.location).toBeUndefined();
      });

      it('refuses a cookie that was changed, and a forged state even with the right cookie', async () => {
        const state = await startLogin();
        const cookie = cookieOfState.get(state)!;
        const flipped = cookie.slice(0, -1) + (cookie.endsWith('A') ? 'B' : 'A');
        await finish(sim.issueOAuthCode('zhangsan'), state, flipped).expect(400);
        const forged = state.slice(0, 72) + '0'.repeat(32);
        await finish(sim.issueOAuthCode('zhangsan'), forged, cookie).expect(400);
        // Neither used the state up: the browser that started it still signs in.
        await finish(sim.issueOAuthCode('zhangsan'), state, cookie).expect(302);
      });

      it('signs in the browser that started it, and clears its cookie', async () => {
        const state = await startLogin('/interviews');
        const res = await finish(sim.issueOAuthCode('zhangsan'), state).expect(302);
        expect(res.headers.location).toMatch(new RegExp(`^${FRONTEND}/interviews#token=`));
        const cleared = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
        expect(cleared).toHaveLength(1);
        expect(cleared[0]).toMatch(/^wecom_signin=;/);
        expect(cleared[0]).toMatch(/Expires=Thu, 01 Jan 1970/);
        expect(cleared[0]).toContain('Path=/auth/wecom');
      });

      it('keeps the browser cookie for a second sign-in started in another tab', async () => {
        const first = await startLogin('/a');
        const cookie = cookieOfState.get(first)!;
        const second = await http()
          .get('/auth/wecom/login')
          .query({ redirect: '/b' })
          .set('Cookie', cookie)
          .expect(302);
        expect(signInCookie(second)).toBe(cookie);
        const secondState = new URL(second.headers.location as string).searchParams.get('state')!;
        await finish(sim.issueOAuthCode('zhangsan'), secondState, cookie).expect(302);
      });
    });

    describe('names the organisation (org)', () => {
      const DEFAULT_ID = '00000000-0000-0000-0000-000000000001';
      const setDefaultStatus = async (status: 'active' | 'suspended') => {
        await db.ownerQuery(`UPDATE organizations SET status = $1 WHERE id = $2`, [
          status,
          DEFAULT_ID,
        ]);
        app.get(OrganizationsService).forget();
      };

      it('org=default is the default organisation: its redirect_uri is the bare one', async () => {
        const res = await http().get('/auth/wecom/login?org=default&redirect=/d').expect(302);
        const url = new URL(res.headers.location as string);
        expect(url.searchParams.get('redirect_uri')).toBe(`${PUBLIC_BASE}/auth/wecom/callback`);
        const state = url.searchParams.get('state')!;
        const signed = await http()
          .get('/auth/wecom/callback')
          .query({ org: 'default', code: sim.issueOAuthCode('zhangsan'), state })
          .set('Cookie', signInCookie(res))
          .expect(302);
        expect(signed.headers.location).toMatch(new RegExp(`^${FRONTEND}/d#token=`));
      });

      it.each([
        ['an unknown slug', 'nobody'],
        ['an id instead of a slug', DEFAULT_ID],
        ['a malformed slug', 'Not A Slug!'],
      ])('refuses %s with a 404 page, and sets no cookie', async (_label, org) => {
        const res = await http().get('/auth/wecom/login').query({ org }).expect(404);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.headers.location).toBeUndefined();
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(res.text).toContain('No organisation has this sign-in link');
        const state = await startLogin();
        await finish(sim.issueOAuthCode('zhangsan'), state).query({ org }).expect(404);
      });

      it('refuses org given twice with a 400 page', async () => {
        await http().get('/auth/wecom/login?org=default&org=default').expect(400);
      });

      it('a state issued for one organisation is unknown on the callback of another, and survives', async () => {
        await db.ownerQuery(`INSERT INTO organizations (slug, name) VALUES ('other-corp', 'O')`);
        app.get(OrganizationsService).forget();
        try {
          const before = sim.stats().calls['/cgi-bin/auth/getuserinfo'] ?? 0;
          const state = await startLogin('/mine');
          const res = await finish(sim.issueOAuthCode('zhangsan'), state)
            .query({ org: 'other-corp' })
            .expect(400);
          expect(res.text).toContain('invalid, expired or already used');
          expect(res.text).not.toContain('#token=');
          expect(sim.stats().calls['/cgi-bin/auth/getuserinfo'] ?? 0).toBe(before);
          // Not used up: its own organisation's callback still takes it.
          await finish(sim.issueOAuthCode('zhangsan'), state).expect(302);
        } finally {
          // One organisation again: tokens without `org` keep meaning `default` in later specs.
          await db.ownerQuery(`DELETE FROM organizations WHERE slug = 'other-corp'`);
          app.get(OrganizationsService).forget();
        }
      });

      it("a suspended organisation's members get a 403 page at login and on the way back", async () => {
        const state = await startLogin();
        await setDefaultStatus('suspended');
        try {
          const login = await http().get('/auth/wecom/login').expect(403);
          expect(login.text).toContain('Organisation default is suspended');
          const back = await finish(sim.issueOAuthCode('zhangsan'), state).expect(403);
          expect(back.text).toContain('Organisation default is suspended');
          expect(back.headers.location).toBeUndefined();
        } finally {
          await setDefaultStatus('active');
        }
      });
    });

    it('tells an unmapped member to ask an admin (403 page, no session)', async () => {
      const res = await finish(sim.issueOAuthCode('lisi'), await startLogin()).expect(403);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toContain('(lisi) is not linked');
      expect(res.headers.location).toBeUndefined();
    });
  });

  describe('GET /api/wecom/jssdk-config', () => {
    const tickets = () =>
      (sim.stats().calls['/cgi-bin/get_jsapi_ticket'] ?? 0) +
      (sim.stats().calls['/cgi-bin/ticket/get'] ?? 0);
    /** The ticket as stored: sealed at rest, opened here with the app's key. */
    const storedTicket = async (kind: string): Promise<string> => {
      const [row] = await db.ownerQuery('SELECT value FROM wecom_credentials WHERE kind = $1', [
        kind,
      ]);
      const sealed = (row as { value: string }).value;
      expect(sealed).toMatch(/^v1:/);
      return app.get(SecretBox).open(sealed);
    };

    it('signs the page URL with both tickets, fetching each once', async () => {
      const interviewer = await tokenFor('u1', 'interviewer');
      const page = `${FRONTEND}/interviews/42?tab=notes`;
      const before = tickets();
      const res = await http()
        .get('/api/wecom/jssdk-config')
        .query({ url: `${page}#section-2` })
        .auth(interviewer, { type: 'bearer' })
        .expect(200);
      expect(tickets()).toBe(before + 2);
      const body = res.body as Record<string, string | number>;
      expect(body).toMatchObject({ corpId: 'ww-sandbox', agentId: 1000002 });
      expect(body.timestamp).toBe(Math.floor(clock.nowMs() / 1000));
      expect(body.signature).toBe(
        jssdkSignature(
          await storedTicket('jsapi_corp_ticket'),
          String(body.nonceStr),
          body.timestamp,
          page,
        ),
      );
      expect(body.agentSignature).toBe(
        jssdkSignature(
          await storedTicket('jsapi_agent_ticket'),
          String(body.nonceStr),
          body.timestamp,
          page,
        ),
      );
      expect(JSON.stringify(body)).not.toContain(await storedTicket('jsapi_corp_ticket'));

      const second = await http()
        .get('/api/wecom/jssdk-config')
        .query({ url: page })
        .auth(interviewer, { type: 'bearer' })
        .expect(200);
      expect(tickets()).toBe(before + 2);
      expect(second.body.nonceStr).not.toBe(body.nonceStr);
    });

    it('refreshes the tickets ahead of expiry on the cron body, once', () =>
      // What the cron runs, in the organisation it runs for.
      inOrganization(async () => {
        const provider = app.get(JsapiTicketProvider);
        await provider.corpTicket();
        const before = tickets();
        expect(await provider.refreshIfExpiring()).toBe(0);
        clock.advance((7200 - 300) * 1000);
        // The access token is due too; refresh it first so only ticket calls are counted.
        await app.get(AccessTokenProvider).refreshIfExpiring();
        expect(await provider.refreshIfExpiring()).toBe(2);
        expect(await provider.refreshIfExpiring()).toBe(0);
        expect(tickets()).toBe(before + 2);
      }));

    it.each([
      ['another host', 'https://evil.example.com/app/x'],
      ['another scheme', 'http://interviews.example.com/app/x'],
      ['a path outside FRONTEND_URL', 'https://interviews.example.com/other'],
      ['a prefix trick', 'https://interviews.example.com/application'],
      ['userinfo', 'https://user@interviews.example.com/app/x'],
      ['not a URL', 'app/x'],
    ])('refuses %s with 400', async (_label, url) => {
      const interviewer = await tokenFor('u1', 'interviewer');
      await http()
        .get('/api/wecom/jssdk-config')
        .query({ url })
        .auth(interviewer, { type: 'bearer' })
        .expect(400);
    });

    it('needs a token', async () => {
      await http().get('/api/wecom/jssdk-config').query({ url: FRONTEND }).expect(401);
    });

    it('refuses a valid token with no role (roles: []) with 403 and signs nothing', async () => {
      const before = tickets();
      const roleless = await tokenFor('u-nobody');
      const res = await http()
        .get('/api/wecom/jssdk-config')
        .query({ url: `${FRONTEND}/x` })
        .auth(roleless, { type: 'bearer' })
        .expect(403);
      expect(res.body).toMatchObject({
        status: 403,
        detail: 'Requires one of the roles: admin, recruiter, interviewer',
      });
      expect(res.body).not.toHaveProperty('signature');
      expect(tickets()).toBe(before);
      // /api/me still answers it: it only repeats the token, so a frontend can explain the 403.
      const me = await http().get('/api/me').auth(roleless, { type: 'bearer' }).expect(200);
      expect(me.body).toEqual({
        id: 'u-nobody',
        roles: [],
        organization: { ...DEFAULT_ORGANIZATION, name: 'Default' },
      });
    });
  });
});

describe('Sign-in with WeCom: other settings', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await sim?.stop();
    await db?.drop();
  });

  async function boot(env: Record<string, string>, logs?: LogRecorder): Promise<INestApplication> {
    const app = await createTestApp(
      { ...db.env, ...simulatorEnv(sim.url), ...env },
      { logger: logs },
    );
    await inOrganization(() => app.get(AccessTokenProvider).getToken());
    apps.push(app);
    return app;
  }

  it('answers 503 to sign-in and the JS-SDK without FRONTEND_URL', async () => {
    const logs = new LogRecorder();
    const app = await boot({}, logs);
    const login = await request(app.getHttpServer()).get('/auth/wecom/login').expect(503);
    expect(login.headers['content-type']).toMatch(/^text\/html/);
    await request(app.getHttpServer()).get('/auth/wecom/callback?code=x&state=y').expect(503);
    await request(app.getHttpServer())
      .get('/api/wecom/jssdk-config')
      .query({ url: 'https://interviews.example.com/x' })
      .auth(await tokenFor('u1', 'interviewer'), { type: 'bearer' })
      .expect(503);
    // Not configured is for the operator to fix, not an incident: a warning, no stack.
    expect(logs.lines('error')).toEqual([]);
    const warned = logs.take('warn', /not configured/);
    expect(warned.map((e) => e.message)).toEqual([
      'GET /api/wecom/jssdk-config failed: FRONTEND_URL is not configured (503)',
    ]);
    expect(warned[0].stack).toBeUndefined();
  });

  it('with AUTO_MAP_BY_EMAIL, explains that WeCom shares no email with the app', async () => {
    const app = await boot({
      FRONTEND_URL: FRONTEND,
      AUTO_MAP_BY_EMAIL: 'true',
      SIGNIN_JWT_TTL: '30m',
    });
    const login = await request(app.getHttpServer()).get('/auth/wecom/login').expect(302);
    const state = new URL(login.headers.location as string).searchParams.get('state')!;
    const cookie = ([] as string[]).concat(login.headers['set-cookie'] ?? [])[0]!;
    // PUBLIC_BASE_URL unset: http://localhost, so the cookie cannot be Secure.
    expect(cookie).not.toMatch(/;\s*Secure/i);
    expect(cookie).toMatch(/HttpOnly/);
    const res = await request(app.getHttpServer())
      .get('/auth/wecom/callback')
      .query({ code: sim.issueOAuthCode('wangwu'), state })
      .set('Cookie', cookie.split(';')[0]!)
      .expect(403);
    expect(res.text).toContain('does not share your email address');
  });
});
