// Scenario 5: fairness between organisations. Organisation A (the default one, on the sandbox
// corp) has a backlog of 50,000 queued messages; organisation B (its own corp in the simulator)
// sends one message a second meanwhile. B's delivery latency (POST /api/messages → the card in
// B's corp in the simulator) beside B alone, with A idle. Goal: p99 within 2× of B alone. With
// two organisations the service serves as a restricted role (BENCH_APP_ROLE, smbw_app by default,
// created if missing, trust authentication as in .ci/run) and migrates as the owner, as in
// production: it refuses to start as a superuser with more than one organisation.
import { SignJWT } from 'jose';

import { DEFAULT_ORGANIZATION } from '../src/organizations/organization.js';
import {
  CORP_ID,
  log,
  member,
  resetSim,
  SECRET,
  serviceEnv,
  setting,
  SERVER,
  simJson,
  type SimStats,
} from './common.js';
import {
  freshDatabase,
  percentile,
  sleep,
  startService,
  table,
  waitFor,
  type Service,
} from './harness.js';
import { withClient } from './seed.js';

export const FAIRNESS_BACKLOG = setting('BENCH_FAIRNESS_BACKLOG', 50_000);
/** B's messages with A idle. */
const ALONE = setting('BENCH_FAIRNESS_ALONE', 30);
/** B's messages while A's backlog drains are sent until it has, but at least this many. */
const MIN_WITH_BACKLOG = 10;
const B = { slug: 'bench-b', corpId: 'ww-bench-b', corpSecret: 'bench-b-secret', agentId: 1000005 };
const bMember = (i: number) => `bb${i}`;
const GOAL_RATIO = 2;
const APP_ROLE = process.env.BENCH_APP_ROLE ?? 'smbw_app';
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(APP_ROLE)) {
  throw new Error(`BENCH_APP_ROLE must be a plain lower-case role name (got ${APP_ROLE})`);
}

/**
 * The database prepared as the README prepares a production one: the service's role may read and
 * write the rows of every table the owner's migrations will create, nothing else. Returns the
 * URL to serve as.
 */
async function serveAsAppRole(ownerUrl: string): Promise<string> {
  await withClient(ownerUrl, (c) =>
    c.query(`
      DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
          CREATE ROLE ${APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS;
        END IF;
      END $$;
      GRANT USAGE ON SCHEMA public TO ${APP_ROLE};
      ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${APP_ROLE};
      ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${APP_ROLE};`),
  );
  const url = new URL(ownerUrl);
  url.username = APP_ROLE;
  url.password = '';
  return url.toString();
}

/** A token the platform would issue: `org` names the organisation, `roles` what one may do. */
function token(sub: string, roles: string[], org?: string): Promise<string> {
  return new SignJWT({ roles, ...(org ? { org } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(SECRET));
}

async function call(
  service: Service,
  auth: string,
  method: string,
  path: string,
  body: unknown,
  expected: number,
): Promise<void> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== expected) {
    throw new Error(`${method} ${path} answered ${res.status}: ${await res.text()}`);
  }
}

/** Organisation B with its own corp in the simulator, set up as an operator and its admin would. */
async function addOrganizationB(service: Service): Promise<string> {
  await simJson('/__simulator/corps', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      corpId: B.corpId,
      corpSecret: B.corpSecret,
      agentId: B.agentId,
      members: Array.from({ length: 1000 }, (_, i) => ({ userid: bMember(i), name: `B${i}` })),
    }),
  });
  const operator = await token('bench-operator', ['operator']);
  await call(
    service,
    operator,
    'POST',
    '/api/organizations',
    { slug: B.slug, name: 'Bench B' },
    201,
  );
  const admin = await token('bench-b-admin', ['admin'], B.slug);
  await call(
    service,
    admin,
    'PATCH',
    '/api/admin/config',
    { corpId: B.corpId, agentId: B.agentId, corpSecret: B.corpSecret },
    200,
  );
  return admin;
}

/** A's backlog as MessagingService writes it: one text message per member, queued, due now. */
async function queueBacklog(url: string, count: number): Promise<void> {
  await withClient(url, (c) =>
    c.query(
      `WITH m AS (
         INSERT INTO messages (organization_id, corp_id, agent_id, kind, msgtype, content,
                               idempotency_key, status, next_attempt_at, created_by)
         SELECT $1, $2, 1000002, 'bench.backlog', 'text',
                jsonb_build_object('content', '积压消息 ' || g), 'backlog-' || g, 'queued', now(),
                'bench-admin'
           FROM generate_series(0, $3 - 1) g
         RETURNING id, organization_id, idempotency_key
       )
       INSERT INTO message_recipients (organization_id, message_id, wecom_user_id)
       SELECT organization_id, id, 'b' || substr(idempotency_key, 9) FROM m`,
      [DEFAULT_ORGANIZATION.id, CORP_ID, count],
    ),
  );
}

/** A's messages not settled yet. */
async function backlogLeft(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM messages
        WHERE organization_id = $1 AND status IN ('queued', 'sending')`,
      [DEFAULT_ORGANIZATION.id],
    );
    return Number(rows[0].n);
  });
}

/**
 * B sends one message a second, each to a member of its own, while `more()` says so; returns
 * each one's latency from the POST to its arrival in B's corp.
 */
async function bSends(
  service: Service,
  admin: string,
  first: number,
  more: (sent: number) => Promise<boolean>,
): Promise<number[]> {
  const postedAt = new Map<string, number>();
  const t0 = Date.now();
  for (let i = 0; await more(i); i++) {
    await sleep(Math.max(0, t0 + i * 1000 - Date.now()));
    const to = bMember(first + i);
    postedAt.set(to, Date.now());
    await call(
      service,
      admin,
      'POST',
      '/api/messages',
      { to: [{ wecomUserId: to }], msgtype: 'text', text: { content: `B 的消息 ${first + i}` } },
      202,
    );
  }
  const latencies: number[] = [];
  for (const [to, at] of postedAt) {
    let arrived = NaN;
    await waitFor(
      async () => {
        const got = await simJson<{ time: string }[]>(
          `/__simulator/messages?touser=${to}&corpId=${B.corpId}`,
        );
        arrived = got[0] ? Date.parse(got[0].time) : NaN;
        return Number.isFinite(arrived);
      },
      120_000,
      `B's message to ${to}`,
    );
    latencies.push(arrived - at);
  }
  return latencies;
}

export async function fairnessScenario(): Promise<string> {
  log('5. fairness …');
  await resetSim();
  const db = await freshDatabase(SERVER);
  let service: Service | undefined;
  try {
    const appUrl = await serveAsAppRole(db.url);
    service = await startService(serviceEnv(appUrl, { DATABASE_MIGRATION_URL: db.url }), 23400);
    const admin = await addOrganizationB(service);

    log(`  B alone: ${ALONE} messages, one a second …`);
    const alone = await bSends(service, admin, 0, (sent) => Promise.resolve(sent < ALONE));

    log(`  A queues ${FAIRNESS_BACKLOG.toLocaleString('en')}; B goes on, one a second …`);
    const queuedAt = performance.now();
    await queueBacklog(db.url, FAIRNESS_BACKLOG);
    const url = db.url;
    const withBacklog = await bSends(
      service,
      admin,
      ALONE,
      async (sent) => sent < MIN_WITH_BACKLOG || (await backlogLeft(url)) > 0,
    );
    await waitFor(async () => (await backlogLeft(url)) === 0, 600_000, "A's backlog");
    const drainS = (performance.now() - queuedAt) / 1000;
    const aDelivered = (await simJson<SimStats>(`/__simulator/stats?corpId=${CORP_ID}`)).delivered;

    const p99Alone = percentile(alone, 99);
    const p99With = percentile(withBacklog, 99);
    const ratio = p99With / p99Alone;
    return [
      table(
        `5. Fairness: organisation A with ${FAIRNESS_BACKLOG.toLocaleString('en')} queued, organisation B one message a second`,
        ['run', "B's messages", 'p50 ms', 'p99 ms', 'max ms'],
        [
          ['B alone (A idle)', alone.length, percentile(alone, 50), p99Alone, Math.max(...alone)],
          [
            "B while A's backlog drains",
            withBacklog.length,
            percentile(withBacklog, 50),
            p99With,
            Math.max(...withBacklog),
          ],
        ],
      ),
      `A's backlog: ${aDelivered.toLocaleString('en')} delivered to ${member(0)} … ${member(FAIRNESS_BACKLOG - 1)} ` +
        `in ${drainS.toFixed(1)} s (${(aDelivered / drainS).toFixed(0)}/s) while B sent. ` +
        `B's p99 with the backlog / alone: ${ratio.toFixed(2)}× (goal: within ${GOAL_RATIO}× — ` +
        `${ratio <= GOAL_RATIO ? 'met' : 'NOT met'}). Latency runs from B's POST to its message in B's corp.`,
      '',
    ].join('\n');
  } finally {
    await service?.stop();
    await db.drop();
  }
}
