// Scenario 6: 50 organisations sending at once cause exactly 50 gettoken calls (issue #12), one per
// organisation's WeCom app however many instances send for it.
//
// Each organisation is made the way it is in production: a platform operator creates it
// (POST /api/organizations), its company's corp joins the simulator, and its admin (a token with
// its `org` claim) sets its WeCom app through PATCH /api/admin/config, which tries the credentials
// with a gettoken of its own before saving them. Each corp's count starts when that save returns:
// then every organisation sends MESSAGES_EACH messages at the same moment through
// POST /api/messages, spread over the instances, and the simulator counts each corp's gettoken
// calls until all are delivered. The token cron (every minute, on every instance) may fetch an
// organisation's token before its sends do: that is its one gettoken, and counts as such.
import {
  addSimCorp,
  bearer,
  log,
  resetSim,
  serviceEnv,
  setting,
  SERVER,
  simStats,
} from './common.js';
import {
  freshDatabase,
  pool,
  serveAsAppRole,
  sleep,
  startService,
  table,
  waitFor,
  type Service,
} from './harness.js';

const ORGANIZATIONS = setting('BENCH_ORGANIZATIONS', 50);
const INSTANCES = 2;
/** Each to a member of its own, so WeCom's pacing of one member does not come into it. */
const MESSAGES_EACH = 4;
const FIRST_PORT = 23450;
/** Requests in flight while organisations are set up (setup is not measured). */
const SETUP_CONCURRENCY = 10;
const GETTOKEN = '/cgi-bin/gettoken';

interface Company {
  slug: string;
  corpId: string;
  corpSecret: string;
  agentId: number;
  members: string[];
  /** Its admin's bearer token (the `org` claim names it). */
  auth: string;
  /** Its corp's gettoken calls when its admin's save returned: the credentials check. */
  checked: number;
}

function company(i: number): Omit<Company, 'auth' | 'checked'> {
  const slug = `bench-org-${String(i + 1).padStart(2, '0')}`;
  return {
    slug,
    corpId: `ww-${slug}`,
    corpSecret: `${slug}-Secret-0123456789`,
    agentId: 1000002,
    members: Array.from({ length: MESSAGES_EACH }, (_, m) => `${slug}-m${m}`),
  };
}

/** A request the bench expects to succeed with `status`: anything else stops the scenario. */
async function call(
  url: string,
  method: string,
  auth: string,
  body: unknown,
  status: number,
): Promise<void> {
  const res = await fetch(url, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== status) {
    throw new Error(`${method} ${url} answered ${res.status}: ${await res.text()}`);
  }
}

/** The operator creates the organisation, the simulator gets its corp, its admin sets its app. */
async function addCompany(service: Service, operator: string, i: number): Promise<Company> {
  const c = company(i);
  await call(
    `${service.url}/api/organizations`,
    'POST',
    operator,
    { slug: c.slug, name: `Bench ${c.slug}` },
    201,
  );
  await addSimCorp({
    corpId: c.corpId,
    corpSecret: c.corpSecret,
    agentId: c.agentId,
    members: c.members.map((userid) => ({ userid, name: userid })),
  });
  const auth = `Bearer ${await bearer(c.slug, { id: `admin-of-${c.slug}`, roles: ['admin'] })}`;
  await call(
    `${service.url}/api/admin/config`,
    'PATCH',
    auth,
    { corpId: c.corpId, agentId: c.agentId, corpSecret: c.corpSecret },
    200,
  );
  // Counted at once: the token cron (every minute) may fetch this organisation's token next.
  const checked = (await simStats(c.corpId)).calls[GETTOKEN] ?? 0;
  return { ...c, auth, checked };
}

/** Whether every instance serves the organisation's admin its configured WeCom app. */
async function servedEverywhere(services: Service[], c: Company): Promise<boolean> {
  const views = await Promise.all(
    services.map(async (service) => {
      const res = await fetch(`${service.url}/api/admin/config`, {
        headers: { authorization: c.auth },
      });
      return res.ok ? ((await res.json()) as { configured: boolean; corpId: string }) : undefined;
    }),
  );
  return views.every((view) => view?.configured === true && view.corpId === c.corpId);
}

/** Each corp's gettoken calls so far, and its deliveries. */
async function perCorp(companies: Company[]): Promise<{ gettoken: number; delivered: number }[]> {
  return Promise.all(
    companies.map(async (c) => {
      const stats = await simStats(c.corpId);
      return { gettoken: stats.calls[GETTOKEN] ?? 0, delivered: stats.delivered };
    }),
  );
}

export async function organizationTokenScenario(): Promise<string> {
  log(`6. ${ORGANIZATIONS} organisations' tokens …`);
  await resetSim();
  const db = await freshDatabase(SERVER);
  const services: Service[] = [];
  try {
    const env = serviceEnv(await serveAsAppRole(db.url), { DATABASE_MIGRATION_URL: db.url });
    // All at once: the instances migrate under the advisory lock, as a rolling start would.
    services.push(
      ...(await Promise.all(
        Array.from({ length: INSTANCES }, (_, i) => startService(env, FIRST_PORT + i)),
      )),
    );
    const operator = `Bearer ${await bearer(undefined, { id: 'bench-operator', roles: ['operator'] })}`;
    const companies: Company[] = [];
    await pool(
      Array.from({ length: ORGANIZATIONS }, (_, i) => i),
      SETUP_CONCURRENCY,
      async (i) => {
        companies.push(await addCompany(services[i % INSTANCES], operator, i));
      },
    );
    // An instance holds the organisations table for a while (OrganizationsService): one created
    // through the other instance can be a 401 "Unknown organisation" there for a moment.
    await waitFor(
      async () =>
        (await Promise.all(companies.map((c) => servedEverywhere(services, c)))).every(Boolean),
      30_000,
      'every instance to serve every organisation',
    );

    log(`  ${ORGANIZATIONS} organisations send ${MESSAGES_EACH} messages each, at once …`);
    const total = ORGANIZATIONS * MESSAGES_EACH;
    const started = performance.now();
    let accepted = 0;
    await Promise.all(
      companies.flatMap((c) =>
        c.members.map(async (to, m) => {
          // Through every instance: each one's dispatcher is kicked and may send for it.
          await call(
            `${services[m % INSTANCES].url}/api/messages`,
            'POST',
            c.auth,
            { to: [{ wecomUserId: to }], msgtype: 'text', text: { content: `${c.slug} #${m}` } },
            202,
          );
          accepted++;
        }),
      ),
    );
    await waitFor(async () => (await simStats()).delivered >= total, 60_000, `${total} deliveries`);
    const seconds = (performance.now() - started) / 1000;
    // A late gettoken (an instance that fetched after the last delivery) still counts.
    await sleep(1000);
    const after = await perCorp(companies);
    const spent = after.map((corp, i) => corp.gettoken - companies[i].checked);
    const delivered = after.reduce((sum, corp) => sum + corp.delivered, 0);
    const sending = spent.reduce((a, b) => a + b, 0);
    const max = Math.max(...spent);
    const none = spent.filter((n) => n === 0).length;
    const more = spent.filter((n) => n > 1).length;
    const met = sending === ORGANIZATIONS && max === 1 && delivered === total;
    return [
      table(
        `6. Organisations: ${ORGANIZATIONS} organisations on ${INSTANCES} instances send ${MESSAGES_EACH} messages each at once`,
        ['measure', 'value', 'goal'],
        [
          ['organisations (each with its own corp)', companies.length, ORGANIZATIONS],
          ['service instances', services.length, '—'],
          ['messages sent (POST /api/messages, 202)', accepted, total],
          ["messages delivered (the organisations' corps)", delivered, total],
          [
            "gettoken until each admin's save returned (its credentials check)",
            companies.reduce((sum, c) => sum + c.checked, 0),
            '—',
          ],
          ['gettoken after the saves, total', sending, ORGANIZATIONS],
          ['gettoken after the saves, max per corp', max, 1],
          ['corps with none / with more than one', `${none} / ${more}`, '0 / 0'],
          ['seconds from the sends to the last delivery', seconds, '—'],
        ],
      ),
      `Goal: exactly ${ORGANIZATIONS} gettoken calls after the saves (one per organisation) — ` +
        `${met ? 'met' : 'NOT met'}. Counted per corp by the simulator, from when each admin's ` +
        `PATCH /api/admin/config returned (it calls gettoken once to try the credentials) until ` +
        `all ${total} messages were delivered and a second more, whether the sends or the token ` +
        `cron fetched it. Each organisation posted its messages ` +
        `through all ${INSTANCES} instances; whichever instance's dispatcher claims one sends it. ` +
        `The default organisation's sandbox corp is not counted.`,
      '',
    ].join('\n');
  } finally {
    await Promise.all(services.map((s) => s.stop()));
    await db.drop();
  }
}
