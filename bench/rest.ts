// Scenario 2: autocannon against the interview routes on a table of 100,000 interviews, beside
// an authenticated route of the same app that touches no database (the ceiling).
import autocannon from 'autocannon';

import { bearer, log, SECRET, serviceEnv, setting, SERVER, unmappedBooking } from './common.js';
import { freshDatabase, startService, table, type Service } from './harness.js';
import { steadyRate, type Measured } from './steady-rate.js';
import { seedInterviews, seedMappings, withClient } from './seed.js';

const INTERVIEWS = setting('BENCH_REST_INTERVIEWS', 100_000);
const SECONDS = setting('BENCH_REST_SECONDS', 8);
/** The reads goal: p99 under 25 ms at this fixed rate. */
const TARGET_RATE = 500;
const GOAL_P99_MS = 25;
/** Interviewers on each seeded interview, drawn from a pool: each has ~150 interviews. */
const INTERVIEWERS_EACH = 3;
const POOL = Math.max(10, Math.round((INTERVIEWS * INTERVIEWERS_EACH) / 150));
const BARE = 'GET /api/me on bare node:http (same JWT check, no framework)';
const CEILING = 'GET /api/me (ceiling: auth, no database)';
/** The framework's goal: its ceiling route at least this share of the bare server's rate. */
const GOAL_OF_BARE = 0.5;

interface Run {
  name: string;
  rate: string;
  result: Measured;
}

function pick<T>(values: T[]): T {
  return values[Math.floor(Math.random() * values.length)];
}

async function cannon(
  name: string,
  url: string,
  auth: string,
  paths: () => string,
  options: Partial<autocannon.Options> = {},
): Promise<Run> {
  log(`2. rest: ${name}${options.overallRate ? ` at ${options.overallRate} req/s` : ''} …`);
  const result = await autocannon({
    url,
    // At a fixed rate, enough connections that one slow answer does not hold the rate back.
    connections: options.overallRate ? 100 : 10,
    duration: SECONDS,
    headers: { authorization: auth, 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (req) => ({ ...req, path: paths() }),
      },
    ],
    ...options,
  });
  const rate = options.overallRate
    ? `${options.overallRate}/s, autocannon's bursts (100 at once)`
    : 'unbounded';
  return { name, rate, result };
}

/** The reads goal's rate, evenly spaced (bench/steady-rate.ts says why not autocannon's). */
async function steady(name: string, url: string, auth: string, path: () => string): Promise<Run> {
  log(`2. rest: ${name} at ${TARGET_RATE} req/s, evenly spaced …`);
  const result = await steadyRate({
    url,
    rate: TARGET_RATE,
    seconds: SECONDS,
    headers: { authorization: auth },
    path,
  });
  return { name, rate: `fixed ${TARGET_RATE}/s`, result };
}

export async function restScenario(): Promise<string> {
  const db = await freshDatabase(SERVER);
  let svc: Service | undefined;
  try {
    svc = await startService(serviceEnv(db.url, { CRON_ENABLED: 'false' }), 23200);
    log(`2. rest: seeding ${INTERVIEWS} interviews …`);
    const t = performance.now();
    const ids = await withClient(db.url, async (c) => {
      await seedMappings(c, POOL);
      await seedInterviews(c, {
        count: INTERVIEWS,
        interviewersEach: INTERVIEWERS_EACH,
        pool: POOL,
      });
      const rows = await c.query<{ id: string }>(
        'SELECT id FROM interviews TABLESAMPLE SYSTEM (5) LIMIT 2000',
      );
      return rows.rows.map((r) => r.id);
    });
    log(`  seeded in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    const auth = `Bearer ${await bearer()}`;
    const one = () => `/api/interviews/${pick(ids)}`;
    const list = () => `/api/interviews?participant=p${Math.floor(Math.random() * POOL)}`;
    const booking = unmappedBooking();

    // Warm-up: JIT, the pool's connections and PostgreSQL's caches.
    await autocannon({ url: `${svc.url}${one()}`, duration: 2, headers: { authorization: auth } });

    // The ceiling's ceiling: the same JWT check and answer on bare node:http, its own process.
    const bare = await startService({ AUTH_JWT_SECRET: SECRET }, 23201, 'dist/bench/bare-http.js');
    let bareRun: Run;
    try {
      bareRun = await cannon(BARE, bare.url, auth, () => '/api/me');
    } finally {
      await bare.stop();
    }
    const runs: Run[] = [
      bareRun,
      await cannon(CEILING, svc.url, auth, () => '/api/me'),
      await steady('GET /api/interviews/:id', svc.url, auth, one),
      // The method the tables before 2026-11-29's round three used, for comparison.
      await cannon('GET /api/interviews/:id', svc.url, auth, one, { overallRate: TARGET_RATE }),
      await cannon('GET /api/interviews/:id', svc.url, auth, one),
      await steady('GET /api/interviews?participant=', svc.url, auth, list),
      await cannon('GET /api/interviews?participant=', svc.url, auth, list),
      await cannon('POST /api/interviews', svc.url, auth, () => '/api/interviews', {
        method: 'POST',
        body: booking,
      }),
    ];
    const rows = runs.map(({ name, rate, result: r }) => [
      name,
      rate,
      r.requests.average,
      r.latency.p50,
      r.latency.p99,
      r['2xx'],
      r.non2xx + r.errors,
    ]);
    const fixed = runs.filter(
      (r) => r.name.startsWith('GET /api/interviews') && r.rate.startsWith('fixed'),
    );
    const verdicts = fixed.map(
      ({ name, result: r }) =>
        `${name}: p99 ${r.latency.p99} ms at ${TARGET_RATE} req/s — ${
          r.latency.p99 < GOAL_P99_MS && r.non2xx + r.errors === 0 ? 'met' : 'NOT met'
        }`,
    );
    const ofBare = runs[1].result.requests.average / bareRun.result.requests.average;
    verdicts.unshift(
      `GET /api/me: ${ofBare.toFixed(2)}× bare node:http — ${ofBare >= GOAL_OF_BARE ? 'met' : 'NOT met'}`,
    );
    return [
      table(
        `2. REST: ${INTERVIEWS.toLocaleString('en')} interviews, ${SECONDS} s per run (autocannon)`,
        ['route', 'rate', 'req/s', 'p50 ms', 'p99 ms', '2xx', 'non-2xx + errors'],
        rows,
      ),
      `Goals: GET /api/me at least ${GOAL_OF_BARE}× bare node:http; reads p99 under ${GOAL_P99_MS} ms at ${TARGET_RATE} req/s. ${verdicts.join('; ')}. ` +
        `Fixed-rate runs send one request every ${1000 / TARGET_RATE} ms on up to 100 connections and count ` +
        'latency from when a request was due (coordinated omission); the autocannon row at the same ' +
        'rate sends each second as bursts of 100 (bench/steady-rate.ts). POST books an interview ' +
        'whose interviewers have no WeCom mapping, so it writes every row but sends nothing.',
      '',
    ].join('\n');
  } finally {
    await svc?.stop();
    await db.drop();
  }
}
