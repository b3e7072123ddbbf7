// Scenario 4: four instances share one access token; a revoke mid-run costs one more gettoken.
import { bearer, log, member, resetSim, serviceEnv, SERVER, simJson, simStats } from './common.js';
import {
  freshDatabase,
  pool,
  sleep,
  startService,
  table,
  waitFor,
  type Service,
} from './harness.js';

const SENDS = 1000;
const INSTANCES = 4;

export async function tokenScenario(): Promise<string> {
  log('4. tokens …');
  await resetSim();
  const db = await freshDatabase(SERVER);
  const services: Service[] = [];
  try {
    const env = serviceEnv(db.url);
    // Migrations first, so the four start on a migrated schema at the same moment.
    const first = await startService(env, 23100);
    await first.stop();
    await resetSim();
    services.push(
      ...(await Promise.all(
        Array.from({ length: INSTANCES }, (_, i) => startService(env, 23101 + i)),
      )),
    );
    const auth = `Bearer ${await bearer()}`;
    const send = async (i: number) => {
      const res = await fetch(`${services[i % INSTANCES].url}/api/messages`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          to: [{ wecomUserId: member(i) }],
          msgtype: 'text',
          text: { content: `token test ${i}` },
        }),
      });
      if (res.status !== 202) throw new Error(`POST /api/messages answered ${res.status}`);
    };
    // The first message alone, delivered before the rest: the four hold the token the first
    // instance stored, which resetSim revoked, so the run's first gettoken is that send's refetch.
    // Without this, a slow dispatcher could reach WeCom only after the revoke below, and one
    // gettoken would serve both (the run that counted 1).
    await send(0);
    await waitFor(async () => (await simStats()).delivered >= 1, 30_000, 'the first delivery');
    let posted = 1;
    await pool(
      Array.from({ length: SENDS - 1 }, (_, i) => i + 1),
      100,
      async (i) => {
        if (++posted === SENDS / 2) await simJson('/__simulator/tokens/revoke', { method: 'POST' });
        await send(i);
      },
    );
    await waitFor(
      async () => (await simStats()).delivered >= SENDS,
      120_000,
      `${SENDS} deliveries`,
    );
    await sleep(500);
    const s = await simStats();
    const gettokens = s.calls['/cgi-bin/gettoken'] ?? 0;
    return [
      table(
        `4. Tokens: ${INSTANCES} instances, ${SENDS.toLocaleString('en')} concurrent sends, one revoke in the middle`,
        ['measure', 'value', 'goal'],
        [
          ['gettoken calls', gettokens, 2],
          ['message/send calls', s.calls['/cgi-bin/message/send'] ?? 0, '—'],
          ['deliveries', s.delivered, SENDS],
        ],
      ),
      `Goal: 2 gettoken calls (one at start, one after the revoke) — ${gettokens === 2 ? 'met' : 'NOT met'}.`,
      '',
    ].join('\n');
  } finally {
    await Promise.all(services.map((s) => s.stop()));
    await db.drop();
  }
}
