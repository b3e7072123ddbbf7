import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { DEFAULT_ORGANIZATION } from '../src/organizations/organization.js';
import { SANDBOX_ADMIN_USERID } from '../src/sign-in/console-sign-in.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { createSandboxApp, createTestApp, simulatorEnv, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const PUBLIC_BASE = 'http://console.test';

/** The `name=value` of the sign-in cookie a response sets. */
function signInCookie(res: request.Response): string {
  const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const found = set.find((c) => c.startsWith('wecom_signin='));
  expect(found).toBeDefined();
  return found!.split(';')[0]!;
}

/** The response, once it is known to have that status. */
async function status(pending: Promise<request.Response>, expected: number) {
  const res = await pending;
  expect(res.status).toBe(expected);
  return res;
}

/** The path and query of a URL of this service (supertest talks to the app, whatever host). */
const local = (url: string) => {
  const u = new URL(url);
  expect(u.origin).toBe(PUBLIC_BASE);
  return u.pathname + u.search;
};

describe('Signing in to the admin console with WeCom (e2e)', () => {
  describe('in sandbox mode', () => {
    let db: TestDatabase;
    let app: INestApplication;
    const http = () => request(app.getHttpServer());

    beforeAll(async () => {
      db = await createTestDatabase();
      ({ app } = await createSandboxApp({ ...db.env, PUBLIC_BASE_URL: PUBLIC_BASE }));
    });
    afterAll(async () => {
      await app?.close();
      await db?.drop();
    });

    /** Login → the sandbox's WeCom page → the callback, in one browser: the final response. */
    async function signIn(query: Record<string, string>): Promise<request.Response> {
      const login = await http().get('/auth/wecom/login').query(query).expect(302);
      const cookie = signInCookie(login);
      const page = await http()
        .get(local(login.headers.location as string))
        .expect(302);
      return http()
        .get(local(page.headers.location as string))
        .set('Cookie', cookie);
    }

    it('signs the sandbox admin in with one click: an admin token in the console URL', async () => {
      const res = await status(
        signIn({
          target: 'console',
          member: SANDBOX_ADMIN_USERID,
          redirect: '/people',
        }),
        302,
      );
      const location = res.headers.location as string;
      const prefix = `${PUBLIC_BASE}/admin/people#token=`;
      expect(location.startsWith(prefix)).toBe(true);
      const jwt = location.slice(prefix.length);
      const me = await http().get('/api/me').auth(jwt, { type: 'bearer' }).expect(200);
      expect(me.body).toEqual({
        id: `wecom:${SANDBOX_ADMIN_USERID}`,
        roles: ['admin'],
        organization: { ...DEFAULT_ORGANIZATION, name: 'Default' },
      });
      await http().get('/api/admin/config').auth(jwt, { type: 'bearer' }).expect(200);
    });

    it('goes through the real flow: the login leads to the sandbox WeCom page with the member', async () => {
      const login = await http()
        .get('/auth/wecom/login')
        .query({ target: 'console', member: SANDBOX_ADMIN_USERID })
        .expect(302);
      const url = new URL(login.headers.location as string);
      expect(url.pathname).toBe('/sandbox/wecom/authorize');
      expect(Object.fromEntries(url.searchParams)).toMatchObject({
        appid: 'ww-sandbox',
        agentid: '1000002',
        redirect_uri: `${PUBLIC_BASE}/auth/wecom/callback`,
        login_hint: SANDBOX_ADMIN_USERID,
      });
      // Without a member the sandbox page asks for one, as WeCom's shows a QR code.
      url.searchParams.delete('login_hint');
      const picker = await http()
        .get(url.pathname + url.search)
        .expect(200);
      expect(picker.headers['content-type']).toMatch(/^text\/html/);
      expect(picker.text).toContain('WeCom simulator');
    });

    it('signs a mapped admin in as their platform user', async () => {
      const recruiter = await tokenFor('recruiter-1', 'recruiter');
      const mapping = await http()
        .post('/api/user-mappings')
        .auth(recruiter, { type: 'bearer' })
        .send({ platformUserId: 'u-admin', wecomUserId: SANDBOX_ADMIN_USERID })
        .expect(201);
      try {
        const res = await status(signIn({ target: 'console', member: SANDBOX_ADMIN_USERID }), 302);
        const jwt = (res.headers.location as string).split('#token=')[1]!;
        const me = await http().get('/api/me').auth(jwt, { type: 'bearer' }).expect(200);
        expect(me.body).toEqual({
          id: 'u-admin',
          roles: ['admin'],
          organization: { ...DEFAULT_ORGANIZATION, name: 'Default' },
        });
      } finally {
        await http()
          .delete(`/api/user-mappings/${mapping.body.id as string}`)
          .auth(recruiter, { type: 'bearer' })
          .expect(204);
      }
    });

    it('refuses a member who is not a console admin, with a page and no token', async () => {
      const res = await status(signIn({ target: 'console', member: 'zhangsan' }), 403);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toContain('not an administrator of this console');
      expect(res.headers.location).toBeUndefined();
    });

    it('refuses a console redirect that leaves the console, and a foreign redirect_uri', async () => {
      for (const redirect of ['/../api/me', '//evil.example.com', 'people', '/people#x']) {
        await http().get('/auth/wecom/login').query({ target: 'console', redirect }).expect(400);
      }
      await http()
        .get('/sandbox/wecom/authorize')
        .query({
          appid: 'ww-sandbox',
          agentid: '1000002',
          redirect_uri: 'https://evil.example.com/auth/wecom/callback',
          state: 'abc',
          login_hint: SANDBOX_ADMIN_USERID,
        })
        .expect(400);
    });
  });

  describe('outside sandbox mode', () => {
    let db: TestDatabase;
    let sim: WeComSimulator;
    let app: INestApplication;
    const http = () => request(app.getHttpServer());

    beforeAll(async () => {
      db = await createTestDatabase();
      sim = new WeComSimulator();
      await sim.start();
      sim.addUsers([{ userid: SANDBOX_ADMIN_USERID, name: 'not special here' }]);
      app = await createTestApp({
        ...db.env,
        ...simulatorEnv(sim.url),
        PUBLIC_BASE_URL: PUBLIC_BASE,
        CONSOLE_ADMINS: 'LiSi, wangwu',
      });
    });
    afterAll(async () => {
      await app?.close();
      await sim?.stop();
      await db?.drop();
    });

    async function signIn(userid: string): Promise<request.Response> {
      const login = await http().get('/auth/wecom/login').query({ target: 'console' }).expect(302);
      const state = new URL(login.headers.location as string).searchParams.get('state')!;
      return http()
        .get('/auth/wecom/callback')
        .query({ code: sim.issueOAuthCode(userid), state })
        .set('Cookie', signInCookie(login));
    }

    it('has no sandbox sign-in: the page is a 404 and a member to sign in as is a 400', async () => {
      await http()
        .get('/sandbox/wecom/authorize')
        .query({ login_hint: SANDBOX_ADMIN_USERID })
        .expect(404);
      const res = await http()
        .get('/auth/wecom/login')
        .query({ target: 'console', member: SANDBOX_ADMIN_USERID })
        .expect(400);
      expect(res.text).toContain('member is only for the sandbox');
    });

    it("sends the browser to WeCom's own page, with no FRONTEND_URL needed", async () => {
      const res = await http()
        .get('/auth/wecom/login')
        .query({ target: 'console', mode: 'qr' })
        .expect(302);
      expect(res.headers.location).toMatch(/^https:\/\/login\.work\.weixin\.qq\.com\//);
    });

    it('signs in the members named in CONSOLE_ADMINS only (case aside)', async () => {
      const lisi = await status(signIn('lisi'), 302);
      expect(lisi.headers.location).toMatch(new RegExp(`^${PUBLIC_BASE}/admin/#token=`));
      const jwt = (lisi.headers.location as string).split('#token=')[1]!;
      const me = await http().get('/api/me').auth(jwt, { type: 'bearer' }).expect(200);
      expect(me.body).toEqual({
        id: 'wecom:lisi',
        roles: ['admin'],
        organization: { ...DEFAULT_ORGANIZATION, name: 'Default' },
      });

      await status(signIn('zhangsan'), 403);
      // The sandbox admin is an admin in sandbox mode only.
      await status(signIn(SANDBOX_ADMIN_USERID), 403);
    });
  });
});
