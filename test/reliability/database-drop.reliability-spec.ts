import type pg from 'pg';

import type { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { ServiceProcess, serviceEnv, waitFor } from '../support/service-process.js';
import { tokenFor } from '../support/test-app.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import {
  addMembers,
  connect,
  count,
  countSent,
  notExactlyOnce,
  queueMessages,
  report,
  caseSimulator,
} from './outbox-load.js';

const MESSAGES = 1500;
const PREFIX = 'd';

describe('Case 3: every PostgreSQL connection of the service dropped mid-delivery', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let client: pg.Client;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = caseSimulator({ latencyMs: 2 });
    addMembers(sim, PREFIX, MESSAGES + 1);
    await sim.start();
    client = await connect(db.ownerUrl);
  });

  afterAll(async () => {
    for (const s of services) await s.kill('SIGKILL');
    await client?.end().catch(() => undefined);
    await sim?.stop();
    await db?.drop();
  });

  /** What an operator (or a failover) does: cut every other session of this database. */
  async function terminateBackends(): Promise<number> {
    const res = await client.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    return res.rowCount ?? 0;
  }

  it('recovers by itself: nothing lost, none twice, no restart', async () => {
    const startedAt = Date.now();
    const env = serviceEnv(db.env, sim.url, { DISPATCHER_LEASE_S: '5', DISPATCHER_POLL_MS: '200' });
    const loader = await ServiceProcess.start({ ...env, CRON_ENABLED: 'false' });
    services.push(loader);
    await queueMessages(loader.url, PREFIX, MESSAGES);
    await loader.kill('SIGTERM');

    const service = await ServiceProcess.start(env);
    services.push(service);
    const pid = service.child.pid;
    const terminated: { delivered: number; sessions: number }[] = [];
    for (const fraction of [0.2, 0.45, 0.7]) {
      await waitFor(
        () => sim.stats().delivered >= MESSAGES * fraction,
        60_000,
        () => `${fraction * 100}% delivered (${sim.stats().delivered}); logs:\n${service.logs()}`,
      );
      terminated.push({ delivered: sim.stats().delivered, sessions: await terminateBackends() });
    }
    // Each cut hit live sessions, and it landed before the end of delivery.
    expect(terminated.every((t) => t.sessions > 0)).toBe(true);
    expect(terminated[2].delivered).toBeLessThan(MESSAGES);

    await waitFor(
      async () => (await countSent(client)) === MESSAGES,
      90_000,
      () => `every message sent; logs:\n${service.logs()}`,
    );
    // The REST side recovered too: a message sent now is accepted and delivered.
    const token = await tokenFor('admin-1', 'admin');
    const late = await fetch(`${service.url}/api/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        to: [{ wecomUserId: `${PREFIX}${MESSAGES}` }],
        msgtype: 'text',
        text: { content: 'after the cuts' },
      }),
    });
    expect(late.status).toBe(202);
    await waitFor(
      () => sim.messagesFor(`${PREFIX}${MESSAGES}`).length === 1,
      30_000,
      () => `the late message; logs:\n${service.logs()}`,
    );

    expect(service.alive).toBe(true);
    expect(service.child.pid).toBe(pid);
    expect(await service.healthy()).toBe(true);
    expect(notExactlyOnce(sim, PREFIX, MESSAGES)).toEqual({});
    expect(sim.stats().delivered).toBe(MESSAGES + 1);
    expect(await count(client, `SELECT count(*) AS n FROM messages WHERE status <> 'sent'`)).toBe(
      0,
    );
    report('case 3 database-drop', startedAt, {
      messages: MESSAGES,
      cuts: terminated,
      duplicatesSuppressed: sim.stats().duplicatesSuppressed,
      gettoken: sim.stats().calls['/cgi-bin/gettoken'],
    });
  }, 240_000);
});
