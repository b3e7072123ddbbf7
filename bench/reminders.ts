// Scenario 3: 10,000 reminders fall due within one minute among 1,000,000 interviews; two
// instances send them. Lag = simulator receive time − due time, per reminder.
import { firstDelivery, log, serviceEnv, setting, SERVER, resetSim, simStats } from './common.js';
import {
  freshDatabase,
  percentile,
  pool,
  sleep,
  startService,
  table,
  waitFor,
  type Service,
} from './harness.js';
import { interviewId, seedInterviews, seedMappings, withClient } from './seed.js';

export const DUE = setting('BENCH_REMINDERS', 10_000);
const INTERVIEWS = setting('BENCH_REMINDER_INTERVIEWS', 1_000_000);
const INSTANCES = 2;
const GOAL_P99_S = 5;
/** The due reminders are spread evenly over this window: "due in the same minute". */
const WINDOW_MS = 60_000;
/** Time between making them due and the first due time: longer than a scheduler poll (10 s). */
const LEAD_MS = 15_000;

const fmt = (seconds: number) => (Math.round(seconds * 100) / 100).toString();

export async function reminderScenario(): Promise<string> {
  await resetSim();
  const db = await freshDatabase(SERVER);
  const services: Service[] = [];
  try {
    // Migrate with one instance (cron off), seed, then start the two that do the work.
    const migrator = await startService(serviceEnv(db.url, { CRON_ENABLED: 'false' }), 23300);
    await migrator.stop();
    log(`3. reminders: seeding ${INTERVIEWS.toLocaleString('en')} interviews …`);
    const t = performance.now();
    await withClient(db.url, async (c) => {
      await seedMappings(c, DUE);
      // One interviewer each, p(g mod DUE): interviews 1 … DUE have DUE different ones.
      await seedInterviews(c, { count: INTERVIEWS, interviewersEach: 1, pool: DUE });
    });
    log(`  seeded in ${((performance.now() - t) / 1000).toFixed(0)} s`);

    // Interviews 1 … DUE start 15 minutes after their reminder, due one after another across
    // the window; their day-before reminder went out the day before. Set up a day ahead first
    // (the heavy part), then moved into place in one quick update once the instances run.
    const placeholder = Date.now() + 86_400_000;
    const ids = await withClient(db.url, async (c) => {
      await c.query(
        `WITH due AS (
           SELECT ${interviewId('g')} AS id,
                  to_timestamp(($1::bigint + (g - 1) * $2::bigint / $3) / 1000.0) AS at
             FROM generate_series(1, $3::int) g),
         moved AS (
           UPDATE interviews iv SET starts_at = due.at + interval '15 minutes'
             FROM due WHERE iv.id = due.id RETURNING iv.id)
         UPDATE interview_reminders r
            SET due_at = CASE r.lead_minutes WHEN 15 THEN due.at ELSE due.at - interval '1425 minutes' END,
                state = CASE r.lead_minutes WHEN 15 THEN 'pending' ELSE 'sent' END,
                processed_at = CASE r.lead_minutes WHEN 15 THEN NULL ELSE due.at - interval '1425 minutes' END
           FROM due WHERE r.interview_id = due.id`,
        [placeholder, WINDOW_MS, DUE],
      );
      const rows = await c.query<{ id: string }>(
        `SELECT ${interviewId('g')} AS id FROM generate_series(1, $1::int) g`,
        [DUE],
      );
      return rows.rows.map((r) => r.id);
    });

    services.push(
      ...(await Promise.all(
        Array.from({ length: INSTANCES }, (_, i) => startService(serviceEnv(db.url), 23301 + i)),
      )),
    );
    await resetSim();
    const first = Date.now() + LEAD_MS;
    const moving = performance.now();
    await withClient(db.url, async (c) => {
      const shift = [first - placeholder, ids];
      await c.query('BEGIN');
      await c.query(
        `UPDATE interviews SET starts_at = starts_at + $1::bigint * interval '1 millisecond'
          WHERE id = ANY($2::uuid[])`,
        shift,
      );
      await c.query(
        `UPDATE interview_reminders
            SET due_at = due_at + $1::bigint * interval '1 millisecond',
                processed_at = processed_at + $1::bigint * interval '1 millisecond'
          WHERE interview_id = ANY($2::uuid[])`,
        shift,
      );
      await c.query('COMMIT');
    });
    log(`  moved into place in ${((performance.now() - moving) / 1000).toFixed(1)} s`);
    log(
      `3. reminders: ${DUE} due from ${new Date(first).toISOString()} over ${WINDOW_MS / 1000} s …`,
    );

    await waitFor(
      async () => (await simStats()).delivered >= DUE,
      LEAD_MS + WINDOW_MS + 120_000,
      `${DUE} reminders delivered`,
    );
    await sleep(1000);
    // Each reminder's due time and the one member it goes to, as the database holds them.
    const dueAt = new Map<string, number>();
    await withClient(db.url, async (c) => {
      const rows = await c.query<{ wecom: string; due: Date }>(
        `SELECT m.wecom_user_id AS wecom, r.due_at AS due
           FROM interview_reminders r
           JOIN interview_participants p ON p.interview_id = r.interview_id AND p.role = 'interviewer'
           JOIN user_mappings m ON m.platform_user_id = p.platform_user_id
          WHERE r.lead_minutes = 15 AND r.due_at >= to_timestamp($1::bigint / 1000.0)
            AND r.due_at < to_timestamp(($1::bigint + $2::bigint) / 1000.0)`,
        [first, WINDOW_MS],
      );
      for (const r of rows.rows) dueAt.set(r.wecom, r.due.getTime());
    });
    if (dueAt.size !== DUE) throw new Error(`expected ${DUE} due reminders, set up ${dueAt.size}`);
    const lags: number[] = [];
    await pool([...dueAt.keys()], 32, async (m) => {
      const at = await firstDelivery(m);
      if (Number.isFinite(at)) lags.push((at - dueAt.get(m)!) / 1000);
    });
    const queued = await withClient(db.url, async (c) => {
      const rows = await c.query<{ lag: number }>(
        `SELECT extract(epoch FROM processed_at - due_at)::float8 AS lag FROM interview_reminders
          WHERE lead_minutes = 15 AND state = 'sent' AND interview_id = ANY($1::uuid[])`,
        [ids],
      );
      return rows.rows.map((r) => r.lag);
    });
    const states = await withClient(db.url, async (c) => {
      const rows = await c.query<{ state: string; n: string }>(
        `SELECT state, count(*) AS n FROM interview_reminders
          WHERE lead_minutes = 15 AND due_at < now() GROUP BY state ORDER BY state`,
      );
      return rows.rows.map((r) => `${r.state} ${r.n}`).join(', ');
    });
    const stats = await simStats();
    const p99 = percentile(lags, 99);
    const rss = services.map((s) => s.peakRssMb()).join(' / ');
    return [
      table(
        `3. Reminders: ${DUE.toLocaleString('en')} due within one minute among ${INTERVIEWS.toLocaleString('en')} interviews, ${INSTANCES} instances`,
        ['measure', 'value', 'goal'],
        [
          ['reminders delivered', lags.length, DUE],
          ['messages delivered (simulator)', stats.delivered, DUE],
          [
            'queued: claimed by a scheduler, p50 / p99 s after due',
            `${fmt(percentile(queued, 50))} / ${fmt(percentile(queued, 99))}`,
            '—',
          ],
          ['lag p50 s', percentile(lags, 50), '—'],
          ['lag p99 s', p99, `< ${GOAL_P99_S}`],
          ['lag max s', Math.max(...lags), '—'],
          ['reminder rows now', states, '—'],
          ['peak RSS MiB per instance', rss, '—'],
        ],
      ),
      `Goal: p99 lag under ${GOAL_P99_S} s — ${p99 < GOAL_P99_S && lags.length === DUE ? 'met' : 'NOT met'}. ` +
        'Lag runs from each reminder’s due time to its arrival in the simulator; due times are ' +
        `spread evenly over ${WINDOW_MS / 1000} s.`,
      '',
    ].join('\n');
  } finally {
    await Promise.all(services.map((s) => s.stop()));
    await db.drop();
  }
}
