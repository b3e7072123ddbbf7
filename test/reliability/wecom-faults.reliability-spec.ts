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

const MESSAGES = 600;
const PREFIX = 'f';
const SEND = '/cgi-bin/message/send';
const STALL_MS = 10_000;
/** Below the stall, so a stalled call times out and is retried while WeCom still holds it. */
const HTTP_TIMEOUT_MS = 2_000;

/**
 * The simulator tries faults in the order they were added, each with its own chance, so each
 * chance is conditional on the ones before it missing: these give 10%, 5%, 2% and 1% of calls.
 */
const FAULTS = [
  { errcode: -1, share: 0.1 },
  { errcode: 45009, share: 0.05 },
  { httpStatus: 502, share: 0.02 },
  { delayMs: STALL_MS, share: 0.01 },
];

describe('Case 2: WeCom faults at random (-1, 45009, HTTP 502, 10-second stalls)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let client: pg.Client;
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = caseSimulator({ latencyMs: 2 });
    addMembers(sim, PREFIX, MESSAGES);
    await sim.start();
    let untouched = 1;
    for (const { share, ...fault } of FAULTS) {
      sim.addFault({ path: SEND, ...fault, probability: share / untouched });
      untouched -= share;
    }
    client = await connect(db.ownerUrl);
  });

  afterAll(async () => {
    await service?.kill('SIGKILL');
    await client?.end().catch(() => undefined);
    await sim?.stop();
    await db?.drop();
  });

  it('delivers every message once and records every attempt in the history', async () => {
    const startedAt = Date.now();
    service = await ServiceProcess.start(
      serviceEnv(db.env, sim.url, {
        WECOM_HTTP_TIMEOUT_MS: String(HTTP_TIMEOUT_MS),
        DISPATCHER_POLL_MS: '200',
      }),
    );
    await queueMessages(service.url, PREFIX, MESSAGES);
    await waitFor(
      async () => (await countSent(client)) === MESSAGES,
      120_000,
      () => `every message sent; logs:\n${service!.logs()}`,
    );

    // A stalled call is still held by the simulator after its retry got through; it completes
    // up to STALL_MS after it began. Wait for the last one, so a late duplicate would be seen.
    const lastTimeout = await client.query<{ at: Date | null }>(
      `SELECT max(started_at) AS at FROM message_attempts WHERE errmsg = 'timed out'`,
    );
    const settledAt = (lastTimeout.rows[0].at?.getTime() ?? 0) + STALL_MS + 1_000;
    await new Promise((r) => setTimeout(r, Math.max(0, settledAt - Date.now())));

    expect(notExactlyOnce(sim, PREFIX, MESSAGES)).toEqual({});
    expect(sim.stats().delivered).toBe(MESSAGES);

    // Every call the simulator answered (or held) is one row of the message history.
    const calls = sim.stats().calls[SEND];
    const attempts = await count(
      client,
      `SELECT count(*) AS n FROM message_attempts WHERE path = $1`,
      [SEND],
    );
    expect(attempts).toBe(calls);
    // Exactly one successful attempt per message.
    expect(
      await count(
        client,
        `SELECT count(*) AS n FROM (SELECT message_id FROM message_attempts WHERE errcode = 0
            GROUP BY message_id HAVING count(*) = 1) ok`,
      ),
    ).toBe(MESSAGES);
    expect(
      await count(client, `SELECT count(*) AS n FROM message_attempts WHERE errcode = 0`),
    ).toBe(MESSAGES);

    const seen = (
      await client.query<{ fault: string; n: string }>(
        `SELECT CASE WHEN errcode IS NOT NULL AND errcode <> 0 THEN 'errcode ' || errcode
                     WHEN http_status = 502 THEN 'HTTP 502'
                     WHEN errmsg = 'timed out' THEN 'timeout'
                     ELSE 'other' END AS fault, count(*) AS n
           FROM message_attempts WHERE errcode IS DISTINCT FROM 0 GROUP BY 1`,
      )
    ).rows.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.fault]: Number(r.n) }), {});
    // Each kind of fault happened and was retried past (its rows are in the history). With
    // short-lived tokens (SIMULATOR_TOKEN_TTL_S), sends in flight as one ends also meet 42001.
    const tokenKinds = ['errcode 40014', 'errcode 42001'];
    expect(
      Object.keys(seen)
        .filter((k) => !tokenKinds.includes(k))
        .sort(),
    ).toEqual(['HTTP 502', 'errcode -1', 'errcode 45009', 'timeout']);
    // Each stalled call reached WeCom and was processed after its retry (or before it): the
    // duplicate check is what kept it from arriving twice. WeCom let it in by the token it came
    // with, so one that ended during the stall (20 s tokens in CI's second run) does not excuse it.
    expect(sim.stats().duplicatesSuppressed).toBe(seen.timeout);
    expect(service.alive).toBe(true);

    report('case 2 wecom-faults', startedAt, {
      messages: MESSAGES,
      sendCalls: calls,
      faults: seen,
      gettoken: sim.stats().calls['/cgi-bin/gettoken'],
      duplicatesSuppressed: sim.stats().duplicatesSuppressed,
    });
  }, 180_000);
});
