// `npm run bench`: measures the service against baselines on the same simulator, in one run,
// and prints one markdown table per scenario. Real PostgreSQL from BENCH_DATABASE_URL (a fresh
// database is created and dropped per scenario); the simulator runs as its own process with
// SIMULATOR_LATENCY_MS (default 20). BENCH_ONLY=1,3 runs some scenarios only; BENCH_INTERVIEWS,
// BENCH_REST_INTERVIEWS, BENCH_REST_SECONDS, BENCH_REMINDERS, BENCH_REMINDER_INTERVIEWS,
// BENCH_FAIRNESS_BACKLOG, BENCH_FAIRNESS_ALONE and BENCH_ORGANIZATIONS shrink them for a quick run.
// Scenarios: 1 delivery, 2 REST, 3 reminders, 4 tokens, 5 fairness between organisations,
// 6 one gettoken per organisation (50 organisations sending at once from 2 instances).
import { writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';

import { LATENCY, log, member, SERVER, SIM_PORT, sim } from './common.js';
import { deliveryScenario, INTERVIEWERS_EACH, INTERVIEWS } from './delivery.js';
import { fairnessScenario } from './fairness.js';
import { ensurePortFree, startProcess, waitFor } from './harness.js';
import { organizationTokenScenario } from './organization-tokens.js';
import { DUE } from './reminders.js';
import { reminderScenario } from './reminders.js';
import { restScenario } from './rest.js';
import { tokenScenario } from './tokens.js';

const SCENARIOS: Record<string, () => Promise<string>> = {
  '1': deliveryScenario,
  '2': restScenario,
  '3': reminderScenario,
  '4': tokenScenario,
  '5': fairnessScenario,
  '6': organizationTokenScenario,
};

async function postgresVersion(): Promise<string> {
  const c = new pg.Client({ connectionString: SERVER });
  await c.connect();
  try {
    return (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]
      .v;
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const only = (process.env.BENCH_ONLY ?? Object.keys(SCENARIOS).join(','))
    .split(',')
    .map((s) => s.trim());
  const unknown = only.filter((k) => !SCENARIOS[k]);
  if (unknown.length)
    throw new Error(
      `BENCH_ONLY: no scenario ${unknown.join(', ')} (1-${Object.keys(SCENARIOS).length})`,
    );

  const members = Math.max(INTERVIEWS * INTERVIEWERS_EACH, DUE, 1000);
  const usersFile = join(tmpdir(), `bench-users-${process.pid}.json`);
  writeFileSync(
    usersFile,
    JSON.stringify(
      Array.from({ length: members }, (_, i) => ({ userid: member(i), name: `成员${i}` })),
    ),
  );
  await ensurePortFree(SIM_PORT, 'the simulator');
  const simulator = startProcess(
    'dist/tools/wecom-simulator/main.js',
    ['--port', String(SIM_PORT)],
    {
      SIMULATOR_LATENCY_MS: String(LATENCY),
      SIMULATOR_USERS_FILE: usersFile,
    },
  );
  try {
    await waitFor(
      async () => {
        if (simulator.exitCode !== null) throw new Error('the simulator exited');
        return (await fetch(`${sim}/__simulator/stats`)).ok;
      },
      30_000,
      'the simulator',
    );
    // Each table is printed as soon as its scenario ends, so a later failure loses nothing.
    const print = (text: string) => process.stdout.write(`${text}\n`);
    print(
      [
        `## Benchmarks (${new Date().toISOString()})`,
        '',
        `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ` +
          `${Math.round(totalmem() / 2 ** 30)} GiB RAM; Node ${process.version}; ` +
          `PostgreSQL ${await postgresVersion()} at ${new URL(SERVER).host}; ` +
          `simulator latency ${LATENCY} ms per call.`,
        '',
      ].join('\n'),
    );
    for (const key of only) {
      const t = Date.now();
      print(await SCENARIOS[key]());
      log(`scenario ${key} took ${((Date.now() - t) / 1000).toFixed(0)} s`);
    }
    print(`Total bench time: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    simulator.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
