// `npm run bench`: measures the service against baselines on the same simulator, in one run,
// and prints one markdown table per scenario. Real PostgreSQL from BENCH_DATABASE_URL (a fresh
// database is created and dropped per scenario); the simulator runs as its own process with
// SIMULATOR_LATENCY_MS (default 20).
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { mintToken } from '../src/auth/jwt-verifier.js';
import {
  freshDatabase,
  percentile,
  pool,
  sleep,
  startProcess,
  startService,
  table,
  waitFor,
  type Service,
} from './harness.js';

const SERVER = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const LATENCY = Number(process.env.SIMULATOR_LATENCY_MS ?? 20);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
const PER_MESSAGE = 5;
const SECRET = 'bench-secret-0123456789abcdef';
const SIM_PORT = 24010;
const DISPATCHER_CONCURRENCY = 8;
/** In-flight WeCom calls of one dispatcher (it keeps twice its concurrency claimed). */
const CALLS_IN_FLIGHT = DISPATCHER_CONCURRENCY * 2;

const sim = `http://127.0.0.1:${SIM_PORT}`;
const simJson = async <T>(path: string, init?: RequestInit): Promise<T> =>
  (await (await fetch(`${sim}${path}`, init)).json()) as T;
const stats = () =>
  simJson<{ calls: Record<string, number>; delivered: number; dropped: number }>(
    '/__simulator/stats',
  );
const resetSim = () => simJson('/__simulator/reset', { method: 'POST' });

function serviceEnv(databaseUrl: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    AUTH_JWT_SECRET: SECRET,
    WECOM_CORP_ID: 'ww-sandbox',
    WECOM_CORP_SECRET: 'sandbox-secret',
    WECOM_AGENT_ID: '1000002',
    WECOM_API_BASE_URL: sim,
    DISPATCHER_CONCURRENCY: String(DISPATCHER_CONCURRENCY),
  };
}

const member = (i: number) => `b${i}`;

async function token(): Promise<string> {
  return mintToken(new TextEncoder().encode(SECRET), { id: 'bench-admin', roles: ['admin'] }, '2h');
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

interface DeliveryRow {
  name: string;
  deliveries: number;
  seconds: number;
  p50: number;
  p99: number;
  rss: number | string;
}

/** Baselines: no persistence, the same simulator, the same number of calls in flight. */
async function baseline(name: string, batched: boolean): Promise<DeliveryRow> {
  await resetSim();
  const accessToken = await gettoken();
  const latencies: number[] = [];
  const jobs = batched
    ? Array.from({ length: MESSAGES }, (_, i) =>
        Array.from({ length: PER_MESSAGE }, (_, k) => member(i * PER_MESSAGE + k)),
      )
    : Array.from({ length: MESSAGES * PER_MESSAGE }, (_, i) => [member(i)]);
  const t0 = performance.now();
  await pool(jobs, CALLS_IN_FLIGHT, async (touser) => {
    const started = performance.now();
    await sendRaw(accessToken, touser, `baseline ${touser[0]}`);
    for (let k = 0; k < touser.length; k++) latencies.push(performance.now() - started);
  });
  const seconds = (performance.now() - t0) / 1000;
  const delivered = (await stats()).delivered;
  return {
    name,
    deliveries: delivered,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    rss: '—',
  };
}

/** The service: messages POSTed through REST, delivered by the dispatcher. */
async function service(): Promise<DeliveryRow> {
  await resetSim();
  const db = await freshDatabase(SERVER);
  let svc: Service | undefined;
  try {
    svc = await startService(serviceEnv(db.url), 23000);
    const bearer = await token();
    const postedAt = new Map<string, number>();
    const epochOffset = Date.now() - performance.now();
    const t0 = performance.now();
    await pool(
      Array.from({ length: MESSAGES }, (_, i) => i),
      32,
      async (i) => {
        const to = Array.from({ length: PER_MESSAGE }, (_, k) => member(i * PER_MESSAGE + k));
        const at = performance.now();
        for (const m of to) postedAt.set(m, at + epochOffset);
        const res = await fetch(`${svc!.url}/api/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            to: to.map((wecomUserId) => ({ wecomUserId })),
            msgtype: 'text',
            text: { content: `面试邀请 #${i}` },
          }),
        });
        if (res.status !== 202) throw new Error(`POST /api/messages answered ${res.status}`);
      },
    );
    const target = MESSAGES * PER_MESSAGE;
    await waitFor(async () => (await stats()).delivered >= target, 600_000, `${target} deliveries`);
    const seconds = (performance.now() - t0) / 1000;
    const latencies: number[] = [];
    await pool([...postedAt.keys()], 32, async (m) => {
      const got = await simJson<{ time: string }[]>(`/__simulator/messages?touser=${m}`);
      if (got[0]) latencies.push(Date.parse(got[0].time) - postedAt.get(m)!);
    });
    return {
      name: 'this service (REST → PostgreSQL outbox → dispatcher)',
      deliveries: (await stats()).delivered,
      seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      rss: svc.peakRssMb(),
    };
  } finally {
    await svc?.stop();
    await db.drop();
  }
}

async function tokenScenario(): Promise<string> {
  await resetSim();
  const db = await freshDatabase(SERVER);
  const services: Service[] = [];
  try {
    const env = serviceEnv(db.url);
    // Migrations first, so the four start on a migrated schema at the same moment.
    const first = await startService(env, 23100);
    await first.stop();
    await resetSim();
    services.push(...(await Promise.all([0, 1, 2, 3].map((i) => startService(env, 23101 + i)))));
    const bearer = await token();
    const sends = 1000;
    let posted = 0;
    await pool(
      Array.from({ length: sends }, (_, i) => i),
      100,
      async (i) => {
        if (++posted === sends / 2) await simJson('/__simulator/tokens/revoke', { method: 'POST' });
        const res = await fetch(`${services[i % 4].url}/api/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            to: [{ wecomUserId: member(i) }],
            msgtype: 'text',
            text: { content: `token test ${i}` },
          }),
        });
        if (res.status !== 202) throw new Error(`POST answered ${res.status}`);
      },
    );
    await waitFor(async () => (await stats()).delivered >= sends, 120_000, `${sends} deliveries`);
    await sleep(500);
    const s = await stats();
    return table(
      '4. Tokens: 4 instances, 1,000 concurrent sends, one revoke in the middle',
      ['measure', 'value', 'goal'],
      [
        ['gettoken calls', s.calls['/cgi-bin/gettoken'] ?? 0, 2],
        ['message/send calls', s.calls['/cgi-bin/message/send'] ?? 0, '—'],
        ['deliveries', s.delivered, sends],
      ],
    );
  } finally {
    await Promise.all(services.map((s) => s.stop()));
    await db.drop();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const users = Array.from({ length: MESSAGES * PER_MESSAGE }, (_, i) => ({
    userid: member(i),
    name: `成员${i}`,
  }));
  const usersFile = join(tmpdir(), `bench-users-${process.pid}.json`);
  writeFileSync(usersFile, JSON.stringify(users));
  const simulator = startProcess('dist/src/wecom/simulator/main.js', ['--port', String(SIM_PORT)], {
    SIMULATOR_LATENCY_MS: String(LATENCY),
    SIMULATOR_USERS_FILE: usersFile,
  });
  try {
    await waitFor(
      async () => (await fetch(`${sim}/__simulator/stats`)).ok,
      30_000,
      'the simulator',
    );
    const out: string[] = [
      `## Benchmarks (${new Date().toISOString()})`,
      '',
      `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB; ` +
        `Node ${process.version}; PostgreSQL at ${new URL(SERVER).host}; simulator latency ${LATENCY} ms per call.`,
      '',
    ];
    process.stderr.write('delivery: this service …\n');
    const mine = await service();
    process.stderr.write('delivery: naive baseline …\n');
    const naive = await baseline('(a) naive: one call per recipient, no persistence', false);
    process.stderr.write('delivery: batched baseline …\n');
    const raw = await baseline('(b) ceiling: one batched call per message, no persistence', true);
    const rows = [mine, naive, raw].map((r) => [
      r.name,
      r.deliveries,
      r.seconds,
      r.deliveries / r.seconds,
      r.p50,
      r.p99,
      r.rss,
    ]);
    out.push(
      table(
        `1. Delivery throughput: ${MESSAGES} messages × ${PER_MESSAGE} recipients, ${CALLS_IN_FLIGHT} calls in flight`,
        ['run', 'deliveries', 'seconds', 'deliveries/s', 'p50 ms', 'p99 ms', 'peak RSS MiB'],
        rows,
      ),
      `Service vs (a): ${(mine.deliveries / mine.seconds / (naive.deliveries / naive.seconds)).toFixed(2)}×; ` +
        `vs (b): ${((100 * (mine.deliveries / mine.seconds)) / (raw.deliveries / raw.seconds)).toFixed(0)}% ` +
        `(goal: ahead of (a), within 80% of (b)). Latency for the service is booking → delivery; for the baselines, call → answer.`,
      '',
    );
    process.stderr.write('tokens …\n');
    out.push(await tokenScenario());
    out.push(`Total bench time: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    simulator.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
