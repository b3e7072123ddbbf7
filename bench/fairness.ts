// Scenario 5: fairness between organisations. Organisation A, with its own corp in the simulator,
// has a backlog of 50,000 queued messages; organisation B (the default one, on the sandbox corp)
// sends one message a second through POST /api/messages meanwhile. B's delivery latency (the POST
// → its message in the simulator) beside B alone, with A idle. Goal: p99 within 2× of B alone.
//
// With two organisations the service serves as a restricted role and migrates as the owner, as
// in production (serveAsAppRole): it refuses to start as a superuser with more than one.
//
// A is set up as the owner, behind the service's back: its organisations row, its WeCom app
// (app_settings, the secret sealed with the bench's APP_ENCRYPTION_KEY) and its backlog. That is
// what an operator's POST /api/organizations and A's admin's PATCH /api/admin/config leave; B
// sends through the API, where a token without an `org` claim names the default organisation.
import { SecretBox } from '../src/settings/secret-box.js';
import {
  addSimCorp,
  bearer,
  ENCRYPTION_KEY,
  log,
  member,
  resetSim,
  serviceEnv,
  setting,
  SERVER,
  simJson,
  simStats,
} from './common.js';
import {
  autovacuumStandIn,
  freshDatabase,
  percentile,
  serveAsAppRole,
  sleep,
  startService,
  table,
  waitFor,
  type Service,
} from './harness.js';
import { withClient } from './seed.js';

const FAIRNESS_BACKLOG = setting('BENCH_FAIRNESS_BACKLOG', 50_000);
/** B's messages with A idle. */
const ALONE = setting('BENCH_FAIRNESS_ALONE', 30);
/** B's messages while A's backlog drains are sent until it has, but at least this many. */
const MIN_WITH_BACKLOG = 10;
/**
 * A's members: each gets backlog / members messages (25 by default), under WeCom's 30 a minute,
 * so that A's backlog is not paced and drains as fast as the service sends.
 */
const A_MEMBERS = 2000;
const A = { slug: 'bench-a', corpId: 'ww-bench-a', corpSecret: 'bench-a-secret', agentId: 1000005 };
const aMember = (i: number) => `ba${i}`;
const GOAL_RATIO = 2;
/** Organisation A with its own corp in the simulator and its WeCom app configured. */
async function addOrganizationA(ownerUrl: string): Promise<string> {
  await addSimCorp({
    corpId: A.corpId,
    corpSecret: A.corpSecret,
    agentId: A.agentId,
    members: Array.from({ length: A_MEMBERS }, (_, i) => ({ userid: aMember(i), name: `A${i}` })),
  });
  const box = new SecretBox(ENCRYPTION_KEY);
  return withClient(ownerUrl, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `INSERT INTO organizations (slug, name) VALUES ($1, 'Bench A') RETURNING id`,
      [A.slug],
    );
    const id = rows[0].id;
    await c.query(
      `INSERT INTO app_settings (organization_id, version, sandbox, corp_id, agent_id, secrets,
                                 options, updated_at, updated_by)
       VALUES ($1, 1, false, $2, $3, $4, $5, now(), 'bench')`,
      [
        id,
        A.corpId,
        A.agentId,
        { corpSecret: box.seal(A.corpSecret) },
        {
          reminderLeadTimesMin: [15],
          feedbackNudgeMin: 0,
          quietHours: null,
          defaultLanguage: 'zh',
        },
      ],
    );
    return id;
  });
}

/** A's backlog as MessagingService writes it: one text message each, queued, due now. */
async function queueBacklog(ownerUrl: string, organizationId: string, count: number) {
  await withClient(ownerUrl, (c) =>
    c.query(
      `WITH m AS (
         INSERT INTO messages (organization_id, corp_id, agent_id, kind, msgtype, content,
                               idempotency_key, status, next_attempt_at, created_by)
         SELECT $1, $2, $3, 'bench.backlog', 'text',
                jsonb_build_object('content', '积压消息 ' || g), 'backlog-' || g, 'queued', now(),
                'bench-a-admin'
           FROM generate_series(0, $4 - 1) g
         RETURNING id, idempotency_key
       )
       INSERT INTO message_recipients (organization_id, message_id, wecom_user_id)
       SELECT $1, id, 'ba' || (substr(idempotency_key, 9)::int % $5) FROM m`,
      [organizationId, A.corpId, A.agentId, count, A_MEMBERS],
    ),
  );
}

/** A's messages not settled yet. */
async function backlogLeft(ownerUrl: string, organizationId: string): Promise<number> {
  return withClient(ownerUrl, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM messages
        WHERE organization_id = $1 AND status IN ('queued', 'sending')`,
      [organizationId],
    );
    return Number(rows[0].n);
  });
}

/**
 * B sends one message a second through the API, each to a member of its own, while `more()`
 * says so; returns each one's latency from the POST to its arrival in B's corp.
 */
async function bSends(
  service: Service,
  first: number,
  more: (sent: number) => Promise<boolean>,
): Promise<{ latencies: number[]; answered: number[] }> {
  const auth = `Bearer ${await bearer('default')}`;
  const postedAt = new Map<string, number>();
  const answered: number[] = [];
  const t0 = Date.now();
  for (let i = 0; await more(i); i++) {
    await sleep(Math.max(0, t0 + i * 1000 - Date.now()));
    const to = member(first + i);
    postedAt.set(to, Date.now());
    const res = await fetch(`${service.url}/api/messages`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        to: [{ wecomUserId: to }],
        msgtype: 'text',
        text: { content: `B 的消息 ${first + i}` },
      }),
    });
    if (res.status !== 202) {
      throw new Error(`POST /api/messages answered ${res.status}: ${await res.text()}`);
    }
    answered.push(Date.now() - postedAt.get(to)!);
  }
  const latencies: number[] = [];
  for (const [to, at] of postedAt) {
    let arrived = NaN;
    await waitFor(
      async () => {
        const got = await simJson<{ time: string }[]>(`/__simulator/messages?touser=${to}`);
        arrived = got[0] ? Date.parse(got[0].time) : NaN;
        return Number.isFinite(arrived);
      },
      120_000,
      `B's message to ${to}`,
    );
    latencies.push(arrived - at);
  }
  return { latencies, answered };
}

export async function fairnessScenario(): Promise<string> {
  log('5. fairness …');
  await resetSim();
  const db = await freshDatabase(SERVER);
  let service: Service | undefined;
  try {
    const appUrl = await serveAsAppRole(db.url);
    service = await startService(serviceEnv(appUrl, { DATABASE_MIGRATION_URL: db.url }), 23400);
    const organizationA = await addOrganizationA(db.url);

    log(`  B alone: ${ALONE} messages, one a second …`);
    const { latencies: alone, answered: aloneAnswered } = await bSends(service, 0, (sent) =>
      Promise.resolve(sent < ALONE),
    );

    log(`  A queues ${FAIRNESS_BACKLOG.toLocaleString('en')}; B goes on, one a second …`);
    const queuedAt = performance.now();
    await queueBacklog(db.url, organizationA, FAIRNESS_BACKLOG);
    const stopVacuum = await autovacuumStandIn(db.url, ['messages', 'message_recipients']);
    const left = () => backlogLeft(db.url, organizationA);
    const { latencies: withBacklog, answered: withBacklogAnswered } = await bSends(
      service,
      ALONE,
      async (sent) => sent < MIN_WITH_BACKLOG || (await left()) > 0,
    );
    await waitFor(async () => (await left()) === 0, 600_000, "A's backlog");
    const drainS = (performance.now() - queuedAt) / 1000;
    await stopVacuum();
    const aDelivered = (await simStats(A.corpId)).delivered;

    const p99Alone = percentile(alone, 99);
    const p99With = percentile(withBacklog, 99);
    const ratio = p99With / p99Alone;
    return [
      table(
        `5. Fairness: organisation A with ${FAIRNESS_BACKLOG.toLocaleString('en')} queued, organisation B one message a second`,
        ['run', "B's messages", 'p50 ms', 'p99 ms', 'max ms', 'POST answered p50 / p99 ms'],
        [
          [
            'B alone (A idle)',
            alone.length,
            percentile(alone, 50),
            p99Alone,
            Math.max(...alone),
            `${percentile(aloneAnswered, 50)} / ${percentile(aloneAnswered, 99)}`,
          ],
          [
            "B while A's backlog drains",
            withBacklog.length,
            percentile(withBacklog, 50),
            p99With,
            Math.max(...withBacklog),
            `${percentile(withBacklogAnswered, 50)} / ${percentile(withBacklogAnswered, 99)}`,
          ],
        ],
      ),
      `A's backlog: ${aDelivered.toLocaleString('en')} delivered in ${drainS.toFixed(1)} s ` +
        `(${(aDelivered / drainS).toFixed(0)}/s) while B sent. ` +
        `B's p99 with the backlog / alone: ${ratio.toFixed(2)}× (goal: within ${GOAL_RATIO}× — ` +
        `${ratio <= GOAL_RATIO ? 'met' : 'NOT met'}). Latency runs from B's POST to its message ` +
        "in the simulator; the service serves as a restricted role, A's corp and B's are apart.",
      '',
    ].join('\n');
  } finally {
    await service?.stop();
    await db.drop();
  }
}
