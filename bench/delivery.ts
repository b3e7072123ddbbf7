// Scenario 1: interviews booked through REST, each interviewer's invitation card delivered
// through the outbox, beside two baselines on the same simulator with no persistence.
import {
  bearer,
  CALLS_IN_FLIGHT,
  firstDelivery,
  log,
  member,
  platformUser,
  resetSim,
  serviceEnv,
  setting,
  SERVER,
  sim,
  simJson,
  simStats,
} from './common.js';
import {
  freshDatabase,
  percentile,
  pool,
  startService,
  table,
  waitFor,
  type Service,
} from './harness.js';
import { seedMappings, withClient } from './seed.js';

export const INTERVIEWS = setting('BENCH_INTERVIEWS', 2000);
export const INTERVIEWERS_EACH = 5;
/** Concurrent booking requests, as a busy recruiting team's front end might send. */
const BOOKING_CONCURRENCY = 32;

interface DeliveryRow {
  name: string;
  deliveries: number;
  seconds: number;
  p50: number;
  p99: number;
  rss: number | string;
  /** The service's booking phase: how long it took, and the cards delivered by its end. */
  booking?: { seconds: number; delivered: number };
}

async function gettoken(): Promise<string> {
  const res = await simJson<{ access_token: string }>(
    '/cgi-bin/gettoken?corpid=ww-sandbox&corpsecret=sandbox-secret',
  );
  return res.access_token;
}

async function sendRaw(accessToken: string, touser: string[], content: string): Promise<void> {
  const res = await fetch(`${sim}/cgi-bin/message/send?access_token=${accessToken}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      touser: touser.join('|'),
      msgtype: 'text',
      agentid: 1000002,
      text: { content },
    }),
  });
  const body = (await res.json()) as { errcode: number };
  if (body.errcode !== 0) throw new Error(`baseline send failed: errcode ${body.errcode}`);
}

/** Baselines: no persistence, the same simulator, the same number of calls in flight. */
async function baseline(name: string, batched: boolean): Promise<DeliveryRow> {
  await resetSim();
  const accessToken = await gettoken();
  const latencies: number[] = [];
  const jobs = batched
    ? Array.from({ length: INTERVIEWS }, (_, i) =>
        Array.from({ length: INTERVIEWERS_EACH }, (_, k) => member(i * INTERVIEWERS_EACH + k)),
      )
    : Array.from({ length: INTERVIEWS * INTERVIEWERS_EACH }, (_, i) => [member(i)]);
  const t0 = performance.now();
  await pool(jobs, CALLS_IN_FLIGHT, async (touser) => {
    const started = performance.now();
    await sendRaw(accessToken, touser, `面试邀请 ${touser.join(',')}`);
    for (let k = 0; k < touser.length; k++) latencies.push(performance.now() - started);
  });
  const seconds = (performance.now() - t0) / 1000;
  return {
    name,
    deliveries: (await simStats()).delivered,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    rss: '—',
  };
}

/** Interview `i`, two days out, with interviewers p(5i) … p(5i+4) (mapped to b(5i) …). */
function booking(i: number, from: number) {
  return {
    title: `前端工程师 二面 #${i}`,
    position: '高级前端工程师',
    candidate: { name: `候选人${i}`, email: `candidate${i}@example.com` },
    startsAt: new Date(from + 48 * 3600_000 + i * 60_000).toISOString(),
    durationMinutes: 60,
    roomUrl: `https://www.showmebug.com/pads/BENCH${i}`,
    interviewers: Array.from({ length: INTERVIEWERS_EACH }, (_, k) =>
      platformUser(i * INTERVIEWERS_EACH + k),
    ),
  };
}

/** The service: interviews POSTed through REST; invitation cards delivered by the dispatcher. */
async function service(): Promise<DeliveryRow> {
  await resetSim();
  const db = await freshDatabase(SERVER);
  let svc: Service | undefined;
  try {
    const service = await startService(serviceEnv(db.url), 23000);
    svc = service;
    const recipients = INTERVIEWS * INTERVIEWERS_EACH;
    await withClient(db.url, (c) => seedMappings(c, recipients));
    const auth = `Bearer ${await bearer()}`;
    const bookedAt = new Map<string, number>();
    const from = Date.now();
    const t0 = performance.now();
    await pool(
      Array.from({ length: INTERVIEWS }, (_, i) => i),
      BOOKING_CONCURRENCY,
      async (i) => {
        const at = Date.now();
        for (let k = 0; k < INTERVIEWERS_EACH; k++)
          bookedAt.set(member(i * INTERVIEWERS_EACH + k), at);
        const res = await fetch(`${service.url}/api/interviews`, {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/json' },
          body: JSON.stringify(booking(i, from)),
        });
        if (res.status !== 201) {
          throw new Error(`POST /api/interviews answered ${res.status}: ${await res.text()}`);
        }
      },
    );
    const booked = {
      seconds: (performance.now() - t0) / 1000,
      delivered: (await simStats()).delivered,
    };
    log(`  ${INTERVIEWS} booked in ${booked.seconds.toFixed(1)} s`);
    await waitFor(
      async () => (await simStats()).delivered >= recipients,
      300_000,
      `${recipients} deliveries`,
    ).catch(async (error: unknown) => {
      throw new Error(`${String(error)}; outbox: ${await outboxState(db.url)}`);
    });
    const seconds = (performance.now() - t0) / 1000;
    const latencies: number[] = [];
    await pool([...bookedAt.keys()], 32, async (m) => {
      const at = await firstDelivery(m);
      if (Number.isFinite(at)) latencies.push(at - bookedAt.get(m)!);
    });
    return {
      name: 'this service: POST /api/interviews → outbox → dispatcher',
      deliveries: (await simStats()).delivered,
      seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      rss: service.peakRssMb(),
      booking: booked,
    };
  } finally {
    await svc?.stop();
    await db.drop();
  }
}

/** Recipient states and the latest errors, for a run that did not finish. */
async function outboxState(url: string): Promise<string> {
  return withClient(url, async (c) => {
    const states = await c.query<{ status: string; n: string }>(
      'SELECT status, count(*) AS n FROM message_recipients GROUP BY status ORDER BY status',
    );
    const stats = await simStats();
    return `${states.rows.map((r) => `${r.status} ${r.n}`).join(', ')}; simulator ${JSON.stringify(stats)}`;
  });
}

export async function deliveryScenario(): Promise<string> {
  log('1. delivery: this service …');
  const mine = await service();
  log('1. delivery: naive baseline …');
  const naive = await baseline('(a) naive: one call per recipient, no persistence', false);
  log('1. delivery: batched baseline …');
  const raw = await baseline('(b) ceiling: one batched call per interview, no persistence', true);
  const rate = (r: DeliveryRow) => r.deliveries / r.seconds;
  const rows = [mine, naive, raw].map((r) => [
    r.name,
    r.deliveries,
    r.seconds,
    rate(r),
    r.p50,
    r.p99,
    r.rss,
  ]);
  const vsNaive = rate(mine) / rate(naive);
  const vsRaw = rate(mine) / rate(raw);
  return [
    table(
      `1. Delivery throughput: ${INTERVIEWS} interviews × ${INTERVIEWERS_EACH} interviewers, ${CALLS_IN_FLIGHT} calls in flight`,
      ['run', 'deliveries', 'seconds', 'deliveries/s', 'p50 ms', 'p99 ms', 'peak RSS MiB'],
      rows,
    ),
    `Service vs (a): ${vsNaive.toFixed(2)}× (goal: ahead of (a) — ${vsNaive > 1 ? 'met' : 'NOT met'}); ` +
      `vs (b): ${(100 * vsRaw).toFixed(0)}% (goal: within 80% of (b) — ${vsRaw >= 0.8 ? 'met' : 'NOT met'}). ` +
      'Service time runs from the first POST to the last delivery, latency from each POST to its ' +
      'card in the simulator; for the baselines, call → answer.',
    mine.booking
      ? `Booking took ${mine.booking.seconds.toFixed(1)} s of the service's ` +
        `${mine.seconds.toFixed(1)} s; ${mine.booking.delivered} of ${mine.deliveries} cards had ` +
        'arrived when the last booking was answered.'
      : '',
    '',
  ].join('\n');
}
