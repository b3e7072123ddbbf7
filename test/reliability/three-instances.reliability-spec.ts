import type pg from 'pg';

import type { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { ServiceProcess, serviceEnv, waitFor } from '../support/service-process.js';
import { tokenFor } from '../support/test-app.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { connect, count, report, caseSimulator } from './outbox-load.js';

const INTERVIEWS = 40;
const INSTANCES = 3;
/** Reminders one minute ahead; bookings start 72-91 s out, so they fall due 12-31 s later. */
const LEAD_MIN = 1;

/** Interview i: two interviewers and the recruiter who books it, each a member of their own. */
const people = (i: number) => ({
  interviewers: [`u-${i}-a`, `u-${i}-b`],
  recruiter: `rec-${i}`,
  members: { [`u-${i}-a`]: `ia${i}`, [`u-${i}-b`]: `ib${i}`, [`rec-${i}`]: `ir${i}` },
});

/** Sum of a counter's samples in a Prometheus text exposition. */
function counterTotal(metrics: string, name: string): number {
  return metrics
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('Case 4: three instances on one database, invitations and reminders falling due', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let client: pg.Client;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = caseSimulator({ latencyMs: 2 });
    for (let i = 0; i < INTERVIEWS; i++) {
      sim.addUsers(Object.values(people(i).members).map((userid) => ({ userid, name: userid })));
    }
    await sim.start();
    client = await connect(db.ownerUrl);
  });

  afterAll(async () => {
    for (const s of services) await s.kill('SIGKILL');
    await client?.end().catch(() => undefined);
    await sim?.stop();
    await db?.drop();
  });

  it('sends each invitation and each reminder once', async () => {
    const startedAt = Date.now();
    const env = serviceEnv(db.env, sim.url, {
      REMINDER_LEAD_TIMES_MIN: String(LEAD_MIN),
      REMINDER_POLL_CRON: '* * * * * *',
      DISPATCHER_POLL_MS: '250',
    });
    // The first one migrates; the others start against the migrated database at the same time.
    services.push(await ServiceProcess.start(env));
    services.push(
      ...(await Promise.all(
        Array.from({ length: INSTANCES - 1 }, () => ServiceProcess.start(env)),
      )),
    );
    const on = (k: number) => services[k % INSTANCES].url;

    const admin = await tokenFor('admin-1', 'admin');
    const mappings = Array.from({ length: INTERVIEWS }, (_, i) =>
      Object.entries(people(i).members),
    ).flat();
    await Promise.all(
      mappings.map(async ([platformUserId, wecomUserId], k) => {
        const res = await fetch(`${on(k)}/api/user-mappings`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ platformUserId, wecomUserId }),
        });
        expect([res.status, await res.text()]).toEqual([201, expect.any(String)]);
      }),
    );

    const bookedAt = Date.now();
    await Promise.all(
      Array.from({ length: INTERVIEWS }, async (_, i) => {
        const { interviewers, recruiter } = people(i);
        const token = await tokenFor(recruiter, 'recruiter');
        // Taken when the request is made, so a slow booking still gets its reminder.
        const startsAt = new Date(Date.now() + LEAD_MIN * 60_000 + 12_000 + (i % 20) * 1_000);
        const res = await fetch(`${on(i)}/api/interviews`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            title: `可靠性 ${i} 面`,
            candidate: { name: `候选人${i}` },
            startsAt: startsAt.toISOString(),
            durationMinutes: 30,
            roomUrl: `https://www.showmebug.com/pads/REL${i}`,
            interviewers,
          }),
        });
        const body = await res.text();
        expect([res.status, body]).toEqual([201, expect.any(String)]);
      }),
    );
    const bookingSeconds = (Date.now() - bookedAt) / 1000;
    expect(await count(client, `SELECT count(*) AS n FROM interview_reminders`)).toBe(INTERVIEWS);

    // Every reminder processed and every message settled, while all three keep running.
    await waitFor(
      async () =>
        (await count(
          client,
          `SELECT count(*) AS n FROM interview_reminders WHERE state = 'pending'`,
        )) === 0 &&
        (await count(client, `SELECT count(*) AS n FROM messages WHERE status <> 'sent'`)) === 0,
      90_000,
      () => `reminders and messages settled; logs:\n${services.map((s) => s.logs()).join('\n')}`,
    );

    // In the database: one invitation per interviewer, one receipt, one reminder per interview,
    // and every reminder sent (none missed, none skipped).
    const kinds = await client.query<{ kind: string; n: string }>(
      `SELECT kind, count(*) AS n FROM messages GROUP BY kind ORDER BY kind`,
    );
    expect(Object.fromEntries(kinds.rows.map((r) => [r.kind, Number(r.n)]))).toEqual({
      'interview.booked': INTERVIEWS,
      'interview.invited': 2 * INTERVIEWS,
      'interview.reminder': INTERVIEWS,
    });
    expect(
      await count(
        client,
        `SELECT count(*) AS n FROM interview_reminders WHERE state = 'sent' AND message_id IS NOT NULL`,
      ),
    ).toBe(INTERVIEWS);

    // What WeCom received: each member exactly its invitation (or receipt) and one reminder,
    // and the reminder names their own interview.
    const wrong: Record<string, string[]> = {};
    for (let i = 0; i < INTERVIEWS; i++) {
      for (const member of Object.values(people(i).members)) {
        const got = sim.messagesFor(member);
        const texts = got.map((m) => JSON.stringify(m.body));
        if (got.length !== 2 || !texts.every((t) => t.includes(`可靠性 ${i} 面`))) {
          wrong[member] = texts;
        }
      }
    }
    expect(wrong).toEqual({});
    expect(sim.stats().delivered).toBe(6 * INTERVIEWS);

    // The work was shared: more than one instance settled messages.
    const settled = await Promise.all(
      services.map(async (s) =>
        counterTotal(await (await fetch(`${s.url}/metrics`)).text(), 'smbw_messages_settled_total'),
      ),
    );
    expect(settled.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(4 * INTERVIEWS);
    expect(settled.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    expect(services.every((s) => s.alive)).toBe(true);

    report('case 4 three-instances', startedAt, {
      interviews: INTERVIEWS,
      bookingSeconds,
      settledPerInstance: settled,
      duplicatesSuppressed: sim.stats().duplicatesSuppressed,
      gettoken: sim.stats().calls['/cgi-bin/gettoken'],
    });
  }, 200_000);
});
