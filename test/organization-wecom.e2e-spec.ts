import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { AdminConfigService } from '../src/admin/admin-config.service.js';
import type { OrganizationScope } from '../src/common/organization-scope.js';
import { ProblemType } from '../src/common/problem-details.js';
import { DEFAULT_ORGANIZATION } from '../src/organizations/organization.js';
import { WeComApiError } from '../src/wecom/client/wecom-api.error.js';
import { WeComClient } from '../src/wecom/client/wecom.client.js';
import { JsapiTicketProvider } from '../src/wecom/jssdk/jsapi-ticket.provider.js';
import { AccessTokenProvider } from '../src/wecom/token/access-token.provider.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { inOrganization } from './support/in-organization.js';
import { LogRecorder } from './support/log-recorder.js';
import { createTestApp, simulatorEnv } from './support/test-app.js';
import {
  createTestDatabase,
  describeWithServer,
  type TestDatabase,
} from './support/test-database.js';

const GETTOKEN = '/cgi-bin/gettoken';
const SEND = '/cgi-bin/message/send';

/** A company: its organisation here and its own corp (one app) in the simulator. */
interface Company {
  scope: OrganizationScope;
  corpId: string;
  corpSecret: string;
  agentId: number;
}

function appEnv(db: TestDatabase, sim: WeComSimulator) {
  return { ...db.env, ...simulatorEnv(sim.url), SETTINGS_POLL_MS: '200' };
}

/**
 * Creates the organisation (as an operator would) and the company's corp in the simulator
 * (zhangsan is a member of every corp: the same userid in two companies), then has its admin set
 * its WeCom app through the admin configuration, in its scope (gettoken first, as always).
 */
async function addCompany(
  db: TestDatabase,
  app: INestApplication,
  sim: WeComSimulator,
  slug: string,
  agentId = 1000002,
): Promise<Company> {
  const [{ id }]: { id: string }[] = await db.ownerQuery(
    `INSERT INTO organizations (slug, name) VALUES ($1, $1) RETURNING id`,
    [slug],
  );
  const company = {
    scope: { id, slug },
    corpId: `ww-${slug}`,
    corpSecret: `${slug}-Secret-0123456789`,
    agentId,
  };
  sim.addCorp({
    corpId: company.corpId,
    corpSecret: company.corpSecret,
    agentId,
    members: [{ userid: 'zhangsan', name: '张三' }],
  });
  await inOrganization(
    () =>
      app
        .get(AdminConfigService)
        .update(
          { corpId: company.corpId, agentId, corpSecret: company.corpSecret },
          `admin-of-${slug}`,
        ),
    company.scope,
  );
  return company;
}

/** A text to zhangsan through WeComClient, in the company's scope, as the dispatcher sends. */
function sendAs(app: INestApplication, company: Company, content: string) {
  return inOrganization(
    () =>
      app
        .get(WeComClient)
        .sendMessage(
          { touser: 'zhangsan', msgtype: 'text', agentid: company.agentId, text: { content } },
          { backoff: { maxRetries: 0 } },
        ),
    company.scope,
  );
}

const textsOf = (sim: WeComSimulator, corpId: string) =>
  sim
    .corp(corpId)
    .messagesFor('zhangsan')
    .map((m) => (m.body as { text?: { content?: string } }).text?.content);

const gettokenCalls = (sim: WeComSimulator, corpId: string) =>
  sim.corp(corpId).stats().calls[GETTOKEN] ?? 0;

describeWithServer('WeCom per organisation (e2e, PostgreSQL)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  let acme: Company;
  let globex: Company;
  /** Errors and warnings, recorded: a spec takes the ones it provokes, none may be left over. */
  const logs = new LogRecorder();

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator({});
    await sim.start();
    app = await createTestApp(appEnv(db, sim), { logger: logs });
    acme = await addCompany(db, app, sim, 'acme');
    globex = await addCompany(db, app, sim, 'globex');
  });

  afterEach(() => {
    expect(logs.lines('error')).toEqual([]);
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it("each organisation's messages go out with its own corp's token, to its own corp's members", async () => {
    await sendAs(app, acme, 'for acme');
    await sendAs(app, globex, 'for globex');
    expect(textsOf(sim, acme.corpId)).toEqual(['for acme']);
    expect(textsOf(sim, globex.corpId)).toEqual(['for globex']);
    expect(textsOf(sim, 'ww-sandbox')).toEqual([]);
  });

  it("an organisation's settings are its own: the other's view, audit and rows do not show or change them", async () => {
    const config = app.get(AdminConfigService);
    const acmeView = await inOrganization(() => config.view(), acme.scope);
    const globexView = await inOrganization(() => config.view(), globex.scope);
    expect(acmeView).toMatchObject({ configured: true, corpId: acme.corpId });
    expect(globexView).toMatchObject({ configured: true, corpId: globex.corpId });
    expect(acmeView.callbackUrl).toMatch(/\/wecom\/callback\/acme$/);
    expect(JSON.stringify(globexView)).not.toContain(acme.corpId);

    await inOrganization(
      () => config.update({ feedbackNudgeMin: 30 }, 'admin-of-acme'),
      acme.scope,
    );
    expect(await inOrganization(() => config.view(), globex.scope)).toEqual(globexView);
    const globexAudit = await inOrganization(() => config.audit(50), globex.scope);
    expect(globexAudit.items.map((i) => i.actor)).toEqual(['admin-of-globex']);
    const acmeAudit = await inOrganization(() => config.audit(50), acme.scope);
    expect(acmeAudit.items.map((i) => i.actor)).toEqual(['admin-of-acme', 'admin-of-acme']);
  });

  it("an acme admin saving globex's WeCom app (even with its secret) is a 403 problem; nothing changes", async () => {
    const rowsBefore = await db.ownerQuery('SELECT * FROM app_settings ORDER BY organization_id');
    const attempt = inOrganization(
      () =>
        app
          .get(AdminConfigService)
          .update(
            { corpId: globex.corpId, agentId: globex.agentId, corpSecret: globex.corpSecret },
            'admin-of-acme',
          ),
      acme.scope,
    );
    await expect(attempt).rejects.toMatchObject({
      status: 403,
      response: {
        type: ProblemType.wecomAppTaken,
        message: expect.stringMatching(/configured for another organisation/),
      },
    });
    expect(await db.ownerQuery('SELECT * FROM app_settings ORDER BY organization_id')).toEqual(
      rowsBefore,
    );
    // The database refused the row (the unique key across organisations), and said so.
    expect(logs.take('error', /app_settings_corp_agent_key/)).toHaveLength(1);
    const acmeAudit = await inOrganization(() => app.get(AdminConfigService).audit(1), acme.scope);
    expect(acmeAudit.items[0]).toMatchObject({
      outcome: 'rejected',
      detail: 'WeCom app configured for another organisation',
    });
    // Acme still sends as acme.
    await sendAs(app, acme, 'still acme');
    expect(textsOf(sim, acme.corpId)).toContain('still acme');
  });

  it("WeCom throttling one corp (45009) does not slow another corp's calls", async () => {
    const client = app.get(WeComClient);
    const backoff = client.backoff;
    client.backoff = { maxRetries: 2, baseDelayMs: 400, maxDelayMs: 2000 };
    sim.addFault({ path: SEND, errcode: 45009, times: 2, corpId: acme.corpId });
    try {
      const finished: string[] = [];
      const throttled = inOrganization(
        () =>
          client.sendMessage({
            touser: 'zhangsan',
            msgtype: 'text',
            agentid: acme.agentId,
            text: { content: 'acme after the throttle' },
          }),
        acme.scope,
      ).then(() => finished.push('acme'));
      // Globex's call starts after acme's was throttled, and is not held behind its backoff.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      await sendAs(app, globex, 'globex meanwhile').then(() => finished.push('globex'));
      const globexMs = performance.now() - started;
      await throttled;
      expect(finished).toEqual(['globex', 'acme']);
      expect(globexMs).toBeLessThan(200);
      expect(textsOf(sim, acme.corpId)).toContain('acme after the throttle');
    } finally {
      client.backoff = backoff;
      sim.clearFaults();
    }
  });

  it("refreshing one organisation's token does not touch another's", async () => {
    const tokens = app.get(AccessTokenProvider);
    const globexToken = await inOrganization(() => tokens.getToken(), globex.scope);
    const acmeToken = await inOrganization(() => tokens.getToken(), acme.scope);
    const globexCalls = gettokenCalls(sim, globex.corpId);

    // WeCom drops acme's tokens: acme's next call is refused once (42001), refetches, succeeds.
    sim.corp(acme.corpId).revokeTokens();
    await sendAs(app, acme, 'after acme lost its token');
    expect(await inOrganization(() => tokens.getToken(), acme.scope)).not.toBe(acmeToken);
    expect(await inOrganization(() => tokens.getToken(), globex.scope)).toBe(globexToken);
    expect(gettokenCalls(sim, globex.corpId)).toBe(globexCalls);
    await sendAs(app, globex, 'globex with its old token');
    expect(gettokenCalls(sim, globex.corpId)).toBe(globexCalls);
  });

  it("new credentials of one organisation drop its stored token and tickets, not another's", async () => {
    const tickets = app.get(JsapiTicketProvider);
    for (const company of [acme, globex]) {
      await inOrganization(() => tickets.corpTicket(), company.scope);
      await inOrganization(() => tickets.agentTicket(), company.scope);
    }
    const stored = async (company: Company) =>
      (await db.ownerQuery(
        'SELECT kind, corp_id, value_fingerprint FROM wecom_credentials WHERE organization_id = $1 ORDER BY kind',
        [company.scope.id],
      )) as { kind: string; corp_id: string; value_fingerprint: string }[];
    const globexBefore = await stored(globex);
    expect(globexBefore.map((r) => r.kind)).toEqual([
      'access_token',
      'jsapi_agent_ticket',
      'jsapi_corp_ticket',
    ]);
    expect((await stored(acme)).length).toBe(3);

    // Acme's admin resets the Secret in its WeCom console and pastes the new one here.
    const newSecret = 'acme-NewSecret-9876543210';
    sim.corp(acme.corpId).setCorpSecret(newSecret);
    await inOrganization(
      () => app.get(AdminConfigService).update({ corpSecret: newSecret }, 'admin-of-acme'),
      acme.scope,
    );
    acme = { ...acme, corpSecret: newSecret };
    expect(await stored(acme)).toEqual([]);
    expect(await stored(globex)).toEqual(globexBefore);
    await sendAs(app, acme, 'acme with its new secret');
    await sendAs(app, globex, 'globex unaffected');
    expect(await stored(globex)).toEqual(globexBefore);
  });

  it("/health speaks for the deployment's own app (default); an organisation's WeCom trouble shows in its own config", async () => {
    const tokens = app.get(AccessTokenProvider);
    await inOrganization(() => tokens.getToken(), DEFAULT_ORGANIZATION);
    // WeCom refuses globex's calls from this address (60020), as the dispatcher reports it.
    inOrganization(
      () =>
        tokens.reportRejected(
          new WeComApiError(
            SEND,
            60020,
            'not allow to access from your ip, from ip: 203.0.113.9',
            false,
          ),
        ),
      globex.scope,
    );
    const health = await request(app.getHttpServer()).get('/health').expect(200);
    expect(health.body.wecom).toMatchObject({ status: 'ok' });
    expect(health.text).not.toContain('globex');
    const globexView = await inOrganization(() => app.get(AdminConfigService).view(), globex.scope);
    expect(globexView.token).toMatchObject({ status: 'misconfigured', errcode: 60020 });
    const acmeView = await inOrganization(() => app.get(AdminConfigService).view(), acme.scope);
    expect(acmeView.token).toMatchObject({ status: 'ok' });
    expect(logs.take('error', /organisation globex \(errcode 60020\)/)).toHaveLength(1);
  });
});

describeWithServer('One gettoken per organisation across instances (e2e, PostgreSQL)', () => {
  const N = 8;
  let db: TestDatabase;
  let sim: WeComSimulator;
  let apps: INestApplication[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator({});
    await sim.start();
    apps = [await createTestApp(appEnv(db, sim))];
    apps.push(await createTestApp(appEnv(db, sim)));
  });

  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await sim?.stop();
    await db?.drop();
  });

  it(`${N} organisations sending at once from two instances cause exactly ${N} gettoken calls`, async () => {
    const companies: Company[] = [];
    for (let i = 1; i <= N; i++)
      companies.push(await addCompany(db, apps[0]!, sim, `company-${i}`));
    // Configuring verified each app with a gettoken of its own; only what sending costs counts.
    const before = companies.map((c) => gettokenCalls(sim, c.corpId));

    await Promise.all(
      companies.flatMap((company) =>
        apps.flatMap((app) => [1, 2].map((n) => sendAs(app, company, `#${n}`))),
      ),
    );

    const spent = companies.map((c, i) => gettokenCalls(sim, c.corpId) - before[i]!);
    expect(spent).toEqual(companies.map(() => 1));
    for (const company of companies) expect(textsOf(sim, company.corpId)).toHaveLength(4);
  });
});
