import type pg from 'pg';

import type { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { ServiceProcess, serviceEnv, waitFor } from '../support/service-process.js';
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

const MESSAGES = 1200;
const PREFIX = 'k';

describe('Case 1: kill -9 mid-delivery, twice, then restart', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let client: pg.Client;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = caseSimulator({ latencyMs: 2 });
    addMembers(sim, PREFIX, MESSAGES);
    await sim.start();
  });

  afterAll(async () => {
    for (const s of services) await s.kill('SIGKILL');
    await client?.end().catch(() => undefined);
    await sim?.stop();
    await db?.drop();
  });

  it('delivers every message, none twice, after two SIGKILLs', async () => {
    const startedAt = Date.now();
    // A short lease so the killed instance's claims come back quickly.
    const env = serviceEnv(db.env, sim.url, { DISPATCHER_LEASE_S: '5', DISPATCHER_POLL_MS: '200' });

    // Queue everything with the dispatcher off, so the kills land in the middle of delivery.
    const loader = await ServiceProcess.start({ ...env, CRON_ENABLED: 'false' });
    services.push(loader);
    await queueMessages(loader.url, PREFIX, MESSAGES);
    await loader.kill('SIGTERM');
    client = await connect(db.ownerUrl);
    expect(await count(client, `SELECT count(*) AS n FROM messages`)).toBe(MESSAGES);

    const killedAt: number[] = [];
    for (const fraction of [0.2, 0.55]) {
      const victim = await ServiceProcess.start(env);
      services.push(victim);
      await waitFor(
        () => sim.stats().delivered >= MESSAGES * fraction,
        60_000,
        () =>
          `${fraction * 100}% delivered (${sim.stats().delivered}); its logs:\n${victim.logs()}`,
      );
      await victim.kill('SIGKILL');
      killedAt.push(sim.stats().delivered);
    }
    expect(killedAt[1]).toBeLessThan(MESSAGES);

    const survivor = await ServiceProcess.start(env);
    services.push(survivor);
    await waitFor(
      async () => (await countSent(client)) === MESSAGES,
      90_000,
      () => `every message sent; logs:\n${survivor.logs()}`,
    );
    await survivor.kill('SIGTERM');

    expect(notExactlyOnce(sim, PREFIX, MESSAGES)).toEqual({});
    expect(sim.stats().delivered).toBe(MESSAGES);
    expect(await count(client, `SELECT count(*) AS n FROM messages WHERE status <> 'sent'`)).toBe(
      0,
    );
    expect(
      await count(
        client,
        `SELECT count(*) AS n FROM message_recipients WHERE status <> 'delivered'`,
      ),
    ).toBe(0);
    report('case 1 crash-restart', startedAt, {
      messages: MESSAGES,
      deliveredAtKills: killedAt,
      duplicatesSuppressed: sim.stats().duplicatesSuppressed,
      gettoken: sim.stats().calls['/cgi-bin/gettoken'],
    });
  }, 240_000);
});
