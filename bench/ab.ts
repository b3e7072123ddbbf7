// Interleaved A/B of two builds of the service (docs/benchmarks.md, "Round two (#15)"): both run
// at once, each on a fresh database seeded alike, and autocannon hits them in turn (A-B-B-A…),
// so that the machine's other load falls on both. Besides req/s it reports each service's CPU
// per request answered (utime + stime from /proc), which depends far less on that load.
//
//   tsc -p tsconfig.bench.json && AB_A=/path/to/base AB_B=. node dist/bench/ab.js
//
// AB_A and AB_B are checkouts with `npm run build:service` done (dist/src/main.js); AB_ROUTES
// (me,one,list,post), AB_ROUNDS (4), AB_SECONDS (3), AB_INTERVIEWS (20000); BENCH_PORT_OFFSET
// as for the bench. BENCH_SERVICE_NODE_ARGS applies to both services.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';

import autocannon from 'autocannon';

import { bearer, log, serviceEnv, setting, SERVER } from './common.js';
import { freshDatabase, startService, table, type Service } from './harness.js';
import { seedInterviews, seedMappings, withClient } from './seed.js';

const ROUNDS = setting('AB_ROUNDS', 4);
const SECONDS = setting('AB_SECONDS', 3);
const INTERVIEWS = setting('AB_INTERVIEWS', 20_000);
const INTERVIEWERS_EACH = 3;
const POOL = Math.max(10, Math.round((INTERVIEWS * INTERVIEWERS_EACH) / 150));

interface Side {
  name: string;
  svc: Service;
  dbUrl: string;
  drop(): Promise<void>;
}

interface Sample {
  rps: number;
  cpuMsPerRequest: number;
  p99: number;
  failed: number;
}

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100;
}

async function startSide(name: string, dir: string, port: number): Promise<Side> {
  const db = await freshDatabase(SERVER);
  const svc = await startService(
    serviceEnv(db.url, { CRON_ENABLED: 'false' }),
    port,
    resolve(dir, 'dist/src/main.js'),
  );
  await withClient(db.url, async (c) => {
    await seedMappings(c, POOL);
    await seedInterviews(c, { count: INTERVIEWS, interviewersEach: INTERVIEWERS_EACH, pool: POOL });
    await c.query('ANALYZE');
  });
  return { name, svc, dbUrl: db.url, drop: () => db.drop() };
}

async function main(): Promise<void> {
  const dirs = { A: process.env.AB_A, B: process.env.AB_B };
  if (!dirs.A || !dirs.B) throw new Error('AB_A and AB_B must name two built checkouts');
  const auth = `Bearer ${await bearer()}`;
  const sides: Side[] = [];
  try {
    sides.push(await startSide(`A (${dirs.A})`, dirs.A, 23250));
    sides.push(await startSide(`B (${dirs.B})`, dirs.B, 23251));
    // Seeded alike, so both databases hold these ids.
    const sample = await withClient(sides[0].dbUrl, async (c) => {
      const rows = await c.query<{ id: string }>(
        'SELECT id FROM interviews TABLESAMPLE SYSTEM (5) LIMIT 2000',
      );
      return rows.rows.map((r) => r.id);
    });
    const pick = () => sample[Math.floor(Math.random() * sample.length)];
    const booking = JSON.stringify({
      title: '前端工程师 二面',
      candidate: { name: '王小明', email: 'wangxm@example.com' },
      startsAt: new Date(Date.now() + 4 * 86400_000).toISOString(),
      durationMinutes: 60,
      roomUrl: 'https://www.showmebug.com/pads/LOAD',
      interviewers: ['load-1', 'load-2', 'load-3'],
    });
    const routes: Record<string, { name: string; path: () => string; post?: boolean }> = {
      me: { name: 'GET /api/me', path: () => '/api/me' },
      one: { name: 'GET /api/interviews/:id', path: () => `/api/interviews/${pick()}` },
      list: {
        name: 'GET /api/interviews?participant=',
        path: () => `/api/interviews?participant=p${Math.floor(Math.random() * POOL)}`,
      },
      post: { name: 'POST /api/interviews', path: () => '/api/interviews', post: true },
    };
    const chosen = (process.env.AB_ROUTES ?? 'me,one,list,post').split(',').map((r) => r.trim());
    const rows: (string | number)[][] = [];
    log(
      `ab: load average before ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    for (const key of chosen) {
      const route = routes[key];
      if (!route) throw new Error(`AB_ROUTES: no route ${key}`);
      const run = async (side: Side, seconds: number): Promise<Sample> => {
        const pid = side.svc.proc.pid!;
        const before = cpuMs(pid);
        const r = await autocannon({
          url: side.svc.url,
          connections: 10,
          duration: seconds,
          headers: { authorization: auth, 'content-type': 'application/json' },
          requests: [
            {
              method: route.post ? 'POST' : 'GET',
              ...(route.post ? { body: booking } : {}),
              setupRequest: (req) => ({ ...req, path: route.path() }),
            },
          ],
        });
        const answered = r['2xx'] + r.non2xx;
        return {
          rps: answered / seconds,
          cpuMsPerRequest: (cpuMs(pid) - before) / Math.max(1, answered),
          p99: r.latency.p99,
          failed: r.non2xx + r.errors,
        };
      };
      // Warm-up: JIT, pools and caches, each side.
      for (const side of sides) await run(side, 2);
      const samples: Sample[][] = [[], []];
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? [0, 1] : [1, 0];
        for (const i of order) samples[i].push(await run(sides[i], SECONDS));
        log(
          `ab: ${route.name} round ${round + 1}: ` +
            samples.map((s, i) => `${'AB'[i]} ${s.at(-1)!.rps.toFixed(0)}`).join(', '),
        );
      }
      const mean = (s: Sample[], f: (x: Sample) => number) =>
        s.reduce((sum, x) => sum + f(x), 0) / s.length;
      const [a, b] = samples;
      rows.push([
        route.name,
        Math.round(mean(a, (x) => x.rps)),
        Math.round(mean(b, (x) => x.rps)),
        `${(mean(b, (x) => x.rps) / mean(a, (x) => x.rps)).toFixed(2)}×`,
        `${mean(a, (x) => x.cpuMsPerRequest).toFixed(3)} → ${mean(b, (x) => x.cpuMsPerRequest).toFixed(3)}`,
        `${Math.max(...a.map((x) => x.p99))} → ${Math.max(...b.map((x) => x.p99))}`,
        `${a.reduce((n, x) => n + x.failed, 0)} / ${b.reduce((n, x) => n + x.failed, 0)}`,
      ]);
    }
    log(
      `ab: load average after ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    process.stdout.write(
      table(
        `A/B, ${ROUNDS} rounds of ${SECONDS} s, 10 connections, ${INTERVIEWS} interviews; A = ${dirs.A}, B = ${dirs.B}`,
        [
          'route',
          'A req/s',
          'B req/s',
          'B/A',
          'CPU ms/request A → B',
          'p99 ms (worst round) A → B',
          'non-2xx A / B',
        ],
        rows,
      ) + '\n',
    );
  } finally {
    for (const side of sides) {
      await side.svc.stop();
      await side.drop();
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
