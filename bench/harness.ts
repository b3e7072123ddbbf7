// Helpers for `npm run bench`: child processes, a fresh database, timing and tables.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

import pg from 'pg';

import { PORT_OFFSET } from './common.js';
import { withClient } from './seed.js';

export interface Service {
  proc: ChildProcess;
  url: string;
  stop(): Promise<void>;
  peakRssMb(): number;
}

/** What a bench interrupted by a signal must not leave behind: its processes and databases. */
const children = new Set<ChildProcess>();
const databases = new Map<string, () => Promise<void>>();

async function stopEverything(signal: NodeJS.Signals): Promise<void> {
  process.stderr.write(
    `\n${signal}: stopping ${children.size} processes, dropping ${databases.size} databases\n`,
  );
  for (const child of children) child.kill('SIGTERM');
  const drops = Promise.allSettled([...databases.values()].map((drop) => drop()));
  await Promise.race([drops, sleep(5_000)]);
  process.exit(signal === 'SIGINT' ? 130 : 143);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void stopEverything(signal));
}

export async function freshDatabase(
  serverUrl: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `smbw_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const drop = async () => {
    databases.delete(name);
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await c.end();
  };
  databases.set(name, drop);
  return { url: url.toString(), drop };
}

const APP_ROLE = process.env.BENCH_APP_ROLE ?? 'smbw_app';
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(APP_ROLE)) {
  throw new Error(`BENCH_APP_ROLE must be a plain lower-case role name (got ${APP_ROLE})`);
}

/**
 * The database prepared as the README prepares a production one: the service's role
 * (BENCH_APP_ROLE, smbw_app by default, created if missing, trust authentication as in .ci/run)
 * may read and write the rows of every table the owner's migrations will create, nothing else.
 * Returns the URL to serve as. With more than one organisation the service must serve as such a
 * role (it refuses to start as a superuser) and migrates as the owner (DATABASE_MIGRATION_URL).
 */
export async function serveAsAppRole(ownerUrl: string): Promise<string> {
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

/**
 * Fails when something listens on `port` already, such as another bench run's simulator or
 * service: the readiness checks would pass against it, and the bench would reset and measure a
 * process that is not its own.
 */
export function ensurePortFree(port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `port ${port} for ${what} is taken (${error.code}; another bench?): set BENCH_PORT_OFFSET`,
        ),
      ),
    );
    probe.listen(port, '0.0.0.0', () => probe.close(() => resolve()));
  });
}

export async function waitFor(
  check: () => Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const done = await check().catch((error: unknown) => {
      if (error instanceof Error && error.message.includes(' exited ')) throw error;
      return false;
    });
    if (done) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function startProcess(
  script: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
): ChildProcess {
  const proc = spawn(process.execPath, [...nodeArgs, script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  let tail = '';
  const keep = (b: Buffer) => {
    tail = (tail + b.toString()).slice(-4000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  proc.on('exit', (code, signal) => {
    // SIGTERM is the bench stopping it; anything else is worth the last lines of its output.
    if ((code && code !== 0) || (signal && signal !== 'SIGTERM'))
      process.stderr.write(`${script} exited ${code ?? signal}:\n${tail}\n`);
  });
  return proc;
}

/** Peak resident set of a child process (Linux VmHWM), in MiB. */
export function peakRssMb(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return Math.round(kb / 1024);
  } catch {
    return NaN;
  }
}

/** Starts the service (or another server `script` answering /health) and waits until it is up. */
export async function startService(
  env: Record<string, string>,
  basePort: number,
  script = 'dist/src/main.js',
): Promise<Service> {
  const port = basePort + PORT_OFFSET;
  // e.g. BENCH_SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the service.
  const nodeArgs = process.env.BENCH_SERVICE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  await ensurePortFree(port, 'a service');
  const proc = startProcess(script, [], { ...env, PORT: String(port) }, nodeArgs);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`the service on ${port} exited ${proc.exitCode}`);
      return (await fetch(`${url}/health`)).ok;
    },
    90_000,
    `the service on ${port}`,
  );
  return {
    proc,
    url,
    peakRssMb: () => peakRssMb(proc.pid),
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}

/** Runs `tasks` with at most `concurrency` in flight. */
export async function pool<T>(
  items: T[],
  concurrency: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await run(items[next++]);
    }),
  );
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function table(title: string, headers: string[], rows: (string | number)[][]): string {
  const fmt = (v: string | number) =>
    typeof v === 'number' ? (Number.isFinite(v) ? String(Math.round(v * 10) / 10) : 'n/a') : v;
  return [
    `### ${title}`,
    '',
    `| ${headers.join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(fmt).join(' | ')} |`),
    '',
  ].join('\n');
}

/**
 * What autovacuum does on a production server, for a server that has it switched off (this
 * machine's CI configuration does): VACUUM ANALYZE of `tables` every `everyMs` while a scenario
 * churns them. Without it a table that grew by 50,000 rows in one statement keeps its empty
 * statistics and the planner's estimates for it stay wrong for the whole run. Nothing runs when
 * autovacuum is on. Returns the function that stops it.
 */
export async function autovacuumStandIn(
  url: string,
  tables: string[],
  everyMs = 15_000,
): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ autovacuum: string }>('SHOW autovacuum');
  if (rows[0].autovacuum === 'on') {
    await client.end();
    return async () => undefined;
  }
  const run = () => client.query(`VACUUM (ANALYZE) ${tables.join(', ')}`);
  await run();
  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(run).then(
      () => undefined,
      () => undefined,
    );
  }, everyMs);
  return async () => {
    clearInterval(timer);
    await running;
    await client.end();
  };
}
