import { execFileSync } from 'node:child_process';

import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import { RuntimeSettings } from '../src/settings/runtime-settings.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { inOrganization } from './support/in-organization.js';
import { createTestApp, simulatorEnv, textsFor, tokenFor } from './support/test-app.js';
import {
  createTestDatabase,
  describeWithServer,
  type TestDatabase,
} from './support/test-database.js';

// Distinctive values, so that finding them anywhere is meaningful.
const OLD_SECRET = 'OldSecret-7Qm2Vx9Lk4Rt8Wz1Np5Hc3Jd6Fb0Gs';
const NEW_SECRET = 'NewSecret-3Xa8Kd2Pq7Ls9Zv4Mt1Wr6Yc5Hn0Jf';
const CALLBACK_TOKEN = 'CbTok9Zq7Wx3Vy';
const AES_KEY = 'Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVbNmQwErT';
const KEY = 'k1:lZzUuSg0w9z1oNm5jaRENsohqWqW9nElYAv9Lhx7Ubo=';

const adminToken = () => tokenFor('admin-7', 'admin');

function appEnv(db: TestDatabase, sim: WeComSimulator, extra: Record<string, string> = {}) {
  return {
    ...db.env,
    ...simulatorEnv(sim.url),
    WECOM_CORP_SECRET: OLD_SECRET,
    WECOM_CALLBACK_TOKEN: CALLBACK_TOKEN,
    WECOM_CALLBACK_AES_KEY: AES_KEY,
    APP_ENCRYPTION_KEY: KEY,
    SETTINGS_POLL_MS: '200',
    ...extra,
  };
}

/** Sends one text to lisi through the REST API and delivers it. */
async function deliverTo(app: INestApplication, content: string): Promise<void> {
  await request(app.getHttpServer())
    .post('/api/messages')
    .auth(await adminToken(), { type: 'bearer' })
    .send({ to: [{ wecomUserId: 'lisi' }], msgtype: 'text', text: { content } })
    .expect(202);
  await app.get(MessageDispatcher).drain();
}

describe('Admin configuration (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  let admin: string;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator({ corpSecret: OLD_SECRET });
    await sim.start();
    app = await createTestApp(appEnv(db, sim, { PUBLIC_BASE_URL: 'https://smb.example.com' }));
    admin = await adminToken();
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('GET shows the configuration in force, secrets only as set + last 4', async () => {
    const res = await http().get('/api/admin/config').auth(admin, { type: 'bearer' }).expect(200);
    expect(res.body).toMatchObject({
      corpId: 'ww-sandbox',
      agentId: 1000002,
      corpSecret: { set: true, last4: OLD_SECRET.slice(-4) },
      callbackToken: { set: true, last4: CALLBACK_TOKEN.slice(-4) },
      callbackAesKey: { set: true, last4: AES_KEY.slice(-4) },
      callbackUrl: 'https://smb.example.com/wecom/callback',
      reminderLeadTimesMin: [15, 1440],
      feedbackNudgeMin: 0,
      feedbackNudgeEnabled: false,
      quietHours: null,
      defaultLanguage: 'zh',
    });
    for (const secret of [OLD_SECRET, CALLBACK_TOKEN, AES_KEY]) {
      expect(res.text).not.toContain(secret);
    }
  });

  it('is for admins only', async () => {
    const recruiter = await tokenFor('rec-1', 'recruiter');
    await http().get('/api/admin/config').auth(recruiter, { type: 'bearer' }).expect(403);
    await http().patch('/api/admin/config').send({ defaultLanguage: 'en' }).expect(401);
    await http().get('/api/admin/audit').auth(recruiter, { type: 'bearer' }).expect(403);
    await http().post('/api/admin/wecom/check').expect(401);
  });

  it.each([
    [{ callbackAesKey: 'too-short' }, /callbackAesKey must be 43 characters of base64/],
    [{ reminderLeadTimesMin: [0] }, /at least 1 minute/],
    [{ reminderLeadTimesMin: [10081] }, /at most 7 days/],
    [{ reminderLeadTimesMin: [15, 15] }, /reminderLeadTimesMin/],
    [{ quietHours: { start: '25:00', end: '08:00' } }, /quietHours.start must be HH:MM/],
    [{ agentId: 'abc' }, /agentId must be an integer/],
    [{ callbackToken: null }, /set together/],
    [{ defaultLanguage: 'fr' }, /defaultLanguage must be zh or en/],
    [{ unknownField: 1 }, /unknownField/],
  ])('PATCH %j is a 400 that says why, and changes nothing', async (body, message) => {
    const before = await db.ownerQuery('SELECT version FROM app_settings');
    const res = await http()
      .patch('/api/admin/config')
      .auth(admin, { type: 'bearer' })
      .send(body)
      .expect(400);
    expect(JSON.stringify(res.body)).toMatch(message);
    expect(await db.ownerQuery('SELECT version FROM app_settings')).toEqual(before);
  });

  it('PUT requires the whole configuration', async () => {
    const res = await http()
      .put('/api/admin/config')
      .auth(admin, { type: 'bearer' })
      .send({ defaultLanguage: 'en' })
      .expect(400);
    expect(JSON.stringify(res.body)).toMatch(/corpId/);
  });

  it('a wrong secret is a 422 with errcode 40001; delivery goes on with the old one', async () => {
    const version = (await inOrganization(() => app.get(RuntimeSettings).current())).version;
    const res = await http()
      .patch('/api/admin/config')
      .auth(admin, { type: 'bearer' })
      .send({ corpSecret: 'WrongSecret-0000000000000000000000000000' })
      .expect(422);
    expect(res.body).toMatchObject({ errcode: 40001 });
    expect(res.text).not.toContain('WrongSecret');
    expect(await inOrganization(() => app.get(RuntimeSettings).current())).toMatchObject({
      version,
      corpSecret: OLD_SECRET,
    });
    sim.revokeTokens(); // the next send needs a fresh token: it must come from the old secret
    await deliverTo(app, 'still delivered after a refused change');
    expect(textsFor(sim, 'lisi')).toContain('still delivered after a refused change');
  });

  it('PATCH of options takes effect at once and is audited with field names only', async () => {
    const res = await http()
      .patch('/api/admin/config')
      .auth(admin, { type: 'bearer' })
      .send({
        reminderLeadTimesMin: [1440, 30],
        feedbackNudgeMin: 45,
        quietHours: { start: '22:00', end: '08:00' },
      })
      .expect(200);
    expect(res.body).toMatchObject({
      reminderLeadTimesMin: [30, 1440],
      feedbackNudgeMin: 45,
      feedbackNudgeEnabled: true,
      quietHours: { start: '22:00', end: '08:00' },
      updatedBy: 'admin-7',
    });
    // New bookings get the new reminders.
    const booked = await http()
      .post('/api/interviews')
      .auth(admin, { type: 'bearer' })
      .send({
        title: '算法面试',
        candidate: { name: '韩梅梅' },
        startsAt: new Date(Date.now() + 3 * 24 * 3600_000).toISOString(),
        durationMinutes: 60,
        roomUrl: 'https://www.showmebug.com/pads/ADMIN1',
        interviewers: ['u-any'],
      })
      .expect(201);
    const reminders: { kind: string; lead_minutes: number }[] = await db.ownerQuery(
      'SELECT kind, lead_minutes FROM interview_reminders WHERE interview_id = $1 ORDER BY kind, lead_minutes',
      [booked.body.interview.id],
    );
    expect(reminders).toEqual([
      { kind: 'before_start', lead_minutes: 30 },
      { kind: 'before_start', lead_minutes: 1440 },
      { kind: 'feedback', lead_minutes: 45 },
    ]);

    const audit = await http().get('/api/admin/audit').auth(admin, { type: 'bearer' }).expect(200);
    expect(audit.body.items[0]).toMatchObject({
      actor: 'admin-7',
      action: 'update',
      outcome: 'applied',
      fields: ['reminderLeadTimesMin', 'feedbackNudgeMin', 'quietHours'],
    });
    expect(audit.body.items).toContainEqual(
      expect.objectContaining({
        outcome: 'rejected',
        fields: ['corpSecret'],
        detail: 'errcode 40001',
      }),
    );
    expect(audit.text).not.toContain(OLD_SECRET);
  });

  it('the default language applies to people mapped from then on', async () => {
    await http()
      .patch('/api/admin/config')
      .auth(admin, { type: 'bearer' })
      .send({ defaultLanguage: 'en' })
      .expect(200);
    const res = await http()
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u-new', wecomUserId: 'wangwu' })
      .expect(201);
    expect(res.body.language).toBe('en');
    await http()
      .patch('/api/admin/config')
      .auth(admin, { type: 'bearer' })
      .send({ defaultLanguage: 'zh' })
      .expect(200);
  });

  it('the same values again change nothing: no new version, no audit entry', async () => {
    const version = (await inOrganization(() => app.get(RuntimeSettings).current())).version;
    const [{ n }] = await db.ownerQuery('SELECT count(*)::int AS n FROM config_audit');
    await http()
      .patch('/api/admin/config')
      .auth(admin, { type: 'bearer' })
      .send({ feedbackNudgeMin: 45, defaultLanguage: 'zh' })
      .expect(200);
    expect((await inOrganization(() => app.get(RuntimeSettings).current())).version).toBe(version);
    expect(await db.ownerQuery('SELECT count(*)::int AS n FROM config_audit')).toEqual([{ n }]);
  });

  it('pages the audit trail newest first', async () => {
    const first = await http()
      .get('/api/admin/audit?limit=1')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(first.body.items).toHaveLength(1);
    const second = await http()
      .get(`/api/admin/audit?limit=1&cursor=${first.body.nextCursor}`)
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(Number(second.body.items[0].id)).toBeLessThan(Number(first.body.items[0].id));
    await http().get('/api/admin/audit?cursor=bm9wZQ').auth(admin, { type: 'bearer' }).expect(400);
  });

  it('POST /api/admin/wecom/check reports what gettoken said', async () => {
    const ok = await http()
      .post('/api/admin/wecom/check')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(ok.body).toMatchObject({ ok: true, errcode: 0, corpId: 'ww-sandbox' });
    expect(ok.text).not.toContain('access_token');

    sim.addFault({ path: '/cgi-bin/gettoken', errcode: 40013, times: 1 });
    const bad = await http()
      .post('/api/admin/wecom/check')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(bad.body).toMatchObject({ ok: false, errcode: 40013 });
  });

  it('holds no secret in plaintext in any table', async () => {
    await deliverTo(app, 'token in use'); // a stored access token exists
    const tables: { tablename: string }[] = await db.ownerQuery(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
    );
    const issued = sim.issuedCredentials().accessTokens;
    expect(issued.length).toBeGreaterThan(0);
    let dump = '';
    for (const { tablename } of tables) {
      const rows = await db.ownerQuery(`SELECT * FROM "${tablename}"`);
      dump += JSON.stringify(rows);
    }
    expect(dump).toContain('v1:k1:'); // sealed values are there...
    for (const secret of [OLD_SECRET, CALLBACK_TOKEN, AES_KEY, ...issued]) {
      expect(dump).not.toContain(secret); // ...their plaintext is not
    }
  });
});

describeWithServer('Admin configuration across instances (e2e, PostgreSQL)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let a: INestApplication;
  let b: INestApplication;

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator({ corpSecret: OLD_SECRET });
    await sim.start();
    a = await createTestApp(appEnv(db, sim));
    b = await createTestApp(appEnv(db, sim));
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('a new secret is tried, saved, and used by every instance within 10 s; the old token is gone', async () => {
    await deliverTo(b, 'before the change'); // b holds a token of the old secret
    const gettokensBefore = sim.stats().calls['/cgi-bin/gettoken'] ?? 0;

    // The admin resets the Secret in the WeCom console, then pastes it here.
    sim.setCorpSecret(NEW_SECRET);
    const started = Date.now();
    await request(a.getHttpServer())
      .patch('/api/admin/config')
      .auth(await adminToken(), { type: 'bearer' })
      .send({ corpSecret: NEW_SECRET })
      .expect(200);
    sim.revokeTokens(); // tokens of the old secret stop working

    while (
      (await inOrganization(() => b.get(RuntimeSettings).current())).corpSecret !== NEW_SECRET
    ) {
      if (Date.now() - started > 10_000) throw new Error('instance b did not pick it up in 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    await deliverTo(b, 'after the change, from b');
    await deliverTo(a, 'after the change, from a');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(textsFor(sim, 'lisi')).toEqual(
      expect.arrayContaining(['after the change, from b', 'after the change, from a']),
    );
    // The check, then one shared token for both instances.
    expect((sim.stats().calls['/cgi-bin/gettoken'] ?? 0) - gettokensBefore).toBeLessThanOrEqual(2);
  });

  it('pg_dump of the configured database holds none of the secrets in plaintext', () => {
    // What an operator's backup holds: a dump as the owner.
    const dump = execFileSync('pg_dump', ['--data-only', db.ownerUrl], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(dump).toContain('app_settings');
    for (const secret of [
      OLD_SECRET,
      NEW_SECRET,
      CALLBACK_TOKEN,
      AES_KEY,
      ...sim.issuedCredentials().accessTokens,
    ]) {
      expect(dump).not.toContain(secret);
    }
  });
});

describe('Encryption key rotation (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  const K1 = `k1:${Buffer.alloc(32, 1).toString('base64')}`;
  const K2 = `k2:${Buffer.alloc(32, 2).toString('base64')}`;
  const K3 = `k3:${Buffer.alloc(32, 3).toString('base64')}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator({ corpSecret: OLD_SECRET });
    await sim.start();
  });

  afterAll(async () => {
    await sim?.stop();
    await db?.drop();
  });

  it('re-seals the stored secrets with the new key at start, and audits it', async () => {
    const first = await createTestApp(appEnv(db, sim, { APP_ENCRYPTION_KEY: K1 }));
    await first.close();

    const second = await createTestApp(
      appEnv(db, sim, { APP_ENCRYPTION_KEY: K2, APP_ENCRYPTION_OLD_KEYS: K1 }),
    );
    try {
      const [row] = await db.ownerQuery('SELECT secrets FROM app_settings');
      const sealed = Object.values((row as { secrets: Record<string, string> }).secrets);
      expect(sealed).toHaveLength(3);
      for (const value of sealed) expect(value).toMatch(/^v1:k2:/);
      const [audit] = await db.ownerQuery(
        'SELECT actor, action, fields FROM config_audit ORDER BY id DESC LIMIT 1',
      );
      expect(audit).toEqual({
        actor: 'system',
        action: 'reseal',
        fields: ['corpSecret', 'callbackToken', 'callbackAesKey'],
      });
      expect((await inOrganization(() => second.get(RuntimeSettings).current())).corpSecret).toBe(
        OLD_SECRET,
      );
    } finally {
      await second.close();
    }
  });

  it('refuses to start without the key that sealed them, naming the key id only', async () => {
    const error = await createTestApp(appEnv(db, sim, { APP_ENCRYPTION_KEY: K3 })).catch(
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/sealed with key "k2"/);
    expect((error as Error).message).not.toContain(K2.slice(3));
  });
});
