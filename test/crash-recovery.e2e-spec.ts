import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

import pg from 'pg';

import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { simulatorEnv, TEST_JWT_SECRET, tokenFor } from './support/test-app.js';
import {
  createTestDatabase,
  describeWithServer,
  type TestDatabase,
} from './support/test-database.js';

const MESSAGES = 2000;

/** Starts the built service as a real process, as `npm start` would run it. */
function startInstance(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['dist/src/main.js'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

async function waitFor(
  check: () => Promise<boolean> | boolean,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describeWithServer('An instance killed with SIGKILL mid-delivery (PostgreSQL server)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let client: pg.Client;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    // The spec runs the built service; build it (incrementally) so it is never stale.
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
    db = await createTestDatabase();
    sim = new WeComSimulator({ latencyMs: 2 });
    sim.addUsers(
      Array.from({ length: MESSAGES }, (_, i) => ({ userid: `c${i}`, name: `候选${i}` })),
    );
    await sim.start();
    // Counts are the owner's: what is stored, whatever the service's role may see.
    client = new pg.Client({ connectionString: db.ownerUrl });
  }, 120_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await client?.end().catch(() => undefined);
    await sim?.stop();
    await db?.drop();
  });

  it('delivers every message exactly once after a restart', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const env = {
      ...simulatorEnv(sim.url),
      ...db.env,
      PORT: String(port),
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'error',
      DISPATCHER_LEASE_S: '5',
      DISPATCHER_POLL_MS: '200',
      NODE_ENV: 'test',
      // 2000 messages posted with one token: the per-user rate limit is not under test here.
      THROTTLE_LIMIT: '1000000',
    };
    const health = () =>
      fetch(`http://127.0.0.1:${port}/health`)
        .then((r) => r.ok)
        .catch(() => false);

    // Queue everything with the dispatcher off, so the kill lands in the middle of delivery.
    const loader = startInstance({ ...env, CRON_ENABLED: 'false' });
    children.push(loader);
    await waitFor(health, 60_000, 'the loading instance');
    const token = await tokenFor('admin-1', 'admin');
    for (let i = 0; i < MESSAGES; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          fetch(`http://127.0.0.1:${port}/api/messages`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              to: [{ wecomUserId: `c${i + j}` }],
              msgtype: 'text',
              text: { content: `第 ${i + j} 条` },
              idempotencyKey: `crash-${i + j}`,
            }),
          }).then((r) => expect(r.status).toBe(202)),
        ),
      );
    }
    loader.kill('SIGTERM');
    await new Promise((r) => loader.once('exit', r));

    const victim = startInstance(env);
    children.push(victim);
    await waitFor(() => sim.stats().delivered >= MESSAGES / 4, 60_000, 'a quarter delivered');
    victim.kill('SIGKILL');
    await new Promise((r) => victim.once('exit', r));
    const atKill = sim.stats().delivered;
    expect(atKill).toBeLessThan(MESSAGES);

    const survivor = startInstance(env);
    children.push(survivor);
    await client.connect();
    await waitFor(
      async () =>
        Number(
          (await client.query(`SELECT count(*) AS n FROM messages WHERE status = 'sent'`)).rows[0]
            .n,
        ) === MESSAGES,
      90_000,
      'every message sent',
    );
    survivor.kill('SIGTERM');

    expect(sim.stats().delivered).toBe(MESSAGES);
    for (let i = 0; i < MESSAGES; i++) expect(sim.messagesFor(`c${i}`)).toHaveLength(1);
    const stuck = await client.query(`SELECT count(*) AS n FROM messages WHERE status <> 'sent'`);
    expect(Number(stuck.rows[0].n)).toBe(0);
  }, 240_000);
});
