// Interleaved A/B of two builds on scenario 2's routes: for a change's effect on a shared, noisy
// machine, where two sequential runs differ by more than most changes move things.
//
//   npm run bench:ab -- /path/to/other/checkout
//
// The other checkout (the base, "A") must be built (`npm run build:service`); this one ("B") is
// built by the script. Both run at once as services, each on its own fresh database seeded the
// same way (AB_INTERVIEWS, default 20,000, as in scenario 2), and autocannon (10 connections,
// unbounded) hits them in turn, AB_SECONDS (3) at a time, A-B-B-A…, AB_ROUNDS (4) rounds per
// route. Besides req/s, each side's service CPU per request (utime + stime from /proc, which
// depends far less on the machine's other load) and PostgreSQL transactions per request
// (xact_commit of its database). AB_ROUTES picks routes (me,id,list,post).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import autocannon from 'autocannon';

import {
  bearer,
  log,
  serviceEnv,
  setting,
  SERVER,
  SIM_PORT,
  sim,
  unmappedBooking,
} from './common.js';
import { freshDatabase, startProcess, startService, table, waitFor } from './harness.js';
import { seedInterviews, seedMappings, withClient } from './seed.js';

const INTERVIEWS = setting('AB_INTERVIEWS', 20_000);
const SECONDS = setting('AB_SECONDS', 3);
const ROUNDS = setting('AB_ROUNDS', 4);
const POOL = Math.max(10, Math.round((INTERVIEWS * 3) / 150));

interface Side {
  name: string;
  url: string;
  pid: number;
  database: string;
  ids: string[];
  req: number[];
  cpuMs: number[];
  xacts: number[];
  p99: number[];
}

/** utime + stime of a process, in ms (clock ticks are 10 ms on Linux). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function commits(database: string): Promise<number> {
  return withClient(SERVER, async (c) => {
    const r = await c.query<{ n: string }>(
      'SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1',
      [database],
    );
    return Number(r.rows[0].n);
  });
}

const ROUTES: Record<string, { name: string; path: (s: Side) => string; post?: boolean }> = {
  me: { name: 'GET /api/me', path: () => '/api/me' },
  id: {
    name: 'GET /api/interviews/:id',
    path: (s) => `/api/interviews/${s.ids[Math.floor(Math.random() * s.ids.length)]}`,
  },
  list: {
    name: 'GET /api/interviews?participant=',
    path: () => `/api/interviews?participant=p${Math.floor(Math.random() * POOL)}`,
  },
  post: { name: 'POST /api/interviews', path: () => '/api/interviews', post: true },
};

async function hit(side: Side, route: string, auth: string): Promise<void> {
  const r = ROUTES[route];
  const cpu = cpuMs(side.pid);
  const xact = await commits(side.database);
  const result = await autocannon({
    url: side.url,
    connections: 10,
    duration: SECONDS,
    headers: { authorization: auth, 'content-type': 'application/json' },
    requests: [
      {
        method: r.post ? 'POST' : 'GET',
        setupRequest: (req) => ({
          ...req,
          path: r.path(side),
          body: r.post ? unmappedBooking() : undefined,
        }),
      },
    ],
  });
  const answered = result['2xx'];
  if (result.non2xx + result.errors > 0) {
    log(`  ${side.name}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  }
  side.req.push(result.requests.average);
  side.p99.push(result.latency.p99);
  side.cpuMs.push((cpuMs(side.pid) - cpu) / Math.max(1, answered));
  side.xacts.push(((await commits(side.database)) - xact) / Math.max(1, answered));
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

async function main(): Promise<void> {
  const base = process.argv[2];
  if (!base) throw new Error('usage: npm run bench:ab -- <path of the base checkout, built>');
  const routes = (process.env.AB_ROUTES ?? 'me,id,list,post').split(',');
  const unknown = routes.filter((r) => !ROUTES[r]);
  if (unknown.length) throw new Error(`AB_ROUTES: no route ${unknown.join(', ')}`);

  const simulator = startProcess(
    'dist/tools/wecom-simulator/main.js',
    ['--port', String(SIM_PORT)],
    {
      SIMULATOR_LATENCY_MS: '20',
    },
  );
  const cleanup: (() => Promise<void>)[] = [async () => void simulator.kill('SIGTERM')];
  try {
    await waitFor(
      async () => (await fetch(`${sim}/__simulator/stats`)).ok,
      30_000,
      'the simulator',
    );
    const sides: Side[] = [];
    // Which side starts (and is seeded) first: the order alone moved a base-against-base run by
    // up to 14% on a loaded machine, so a change is judged from both orders (AB_FIRST=B).
    const builds: [string, string][] = [
      ['A (base)', resolve(base)],
      ['B (this)', resolve('.')],
    ];
    if (process.env.AB_FIRST === 'B') builds.reverse();
    for (const [i, [name, dir]] of builds.entries()) {
      const db = await freshDatabase(SERVER);
      cleanup.push(db.drop);
      const svc = await startService(
        serviceEnv(db.url, { CRON_ENABLED: 'false' }),
        23300 + i,
        `${dir}/dist/src/main.js`,
      );
      cleanup.unshift(svc.stop);
      log(`${name}: seeding ${INTERVIEWS} interviews once it has migrated …`);
      const ids = await withClient(db.url, async (c) => {
        await seedMappings(c, POOL);
        await seedInterviews(c, { count: INTERVIEWS, interviewersEach: 3, pool: POOL });
        const rows = await c.query<{ id: string }>('SELECT id FROM interviews LIMIT 2000');
        return rows.rows.map((r) => r.id);
      });
      sides.push({
        name,
        url: svc.url,
        pid: svc.proc.pid!,
        database: new URL(db.url).pathname.slice(1),
        ids,
        req: [],
        cpuMs: [],
        xacts: [],
        p99: [],
      });
    }
    sides.sort((x, y) => x.name.localeCompare(y.name));
    const auth = `Bearer ${await bearer()}`;
    const rows: (string | number)[][] = [];
    for (const route of routes) {
      log(`${ROUTES[route].name}: warm-up, then ${ROUNDS} rounds of A-B-B-A …`);
      for (const side of sides) {
        await autocannon({
          url: `${side.url}${ROUTES[route].path(side)}`,
          duration: 1,
          headers: { authorization: auth },
        });
        side.req = [];
        side.cpuMs = [];
        side.xacts = [];
        side.p99 = [];
      }
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? sides : [...sides].reverse();
        for (const side of order) await hit(side, route, auth);
      }
      const [a, b] = sides;
      rows.push([
        ROUTES[route].name,
        mean(a.req).toFixed(0),
        mean(b.req).toFixed(0),
        `${(mean(b.req) / mean(a.req)).toFixed(2)}×`,
        `${mean(a.cpuMs).toFixed(2)} → ${mean(b.cpuMs).toFixed(2)}`,
        `${mean(a.xacts).toFixed(2)} → ${mean(b.xacts).toFixed(2)}`,
        `${Math.max(...a.p99)} → ${Math.max(...b.p99)}`,
      ]);
    }
    process.stdout.write(
      `${table(
        `A/B, ${ROUNDS} rounds of ${SECONDS} s per side and route, ${INTERVIEWS} interviews, ${builds[0][0]} started first`,
        [
          'route',
          'A req/s',
          'B req/s',
          'B/A',
          'CPU ms/request A → B',
          'transactions/request A → B',
          'p99 ms (worst round) A → B',
        ],
        rows,
      )}\n`,
    );
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:ab failed: ${error instanceof Error ? error.stack : String(error)}\n`,
  );
  process.exit(1);
});
