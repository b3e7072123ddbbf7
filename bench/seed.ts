// Seeds a migrated bench database with plain SQL (INSERT … SELECT generate_series), on the real
// schema: every row passes the same constraints as one written through the API.
import pg from 'pg';

import { DEFAULT_ORGANIZATION } from '../src/organizations/organization.js';
import { BENCH_USER, CORP_ID } from './common.js';

export interface InterviewSeed {
  /** Interviews to write. */
  count: number;
  /** Interviewers on each, drawn in turn from p0 … p(pool-1). */
  interviewersEach: number;
  pool: number;
}

/** Interview `g` (1-based) gets this id: an md5 shaped as a version-4 UUID. */
export const interviewId = (g: string) =>
  `overlay(overlay(md5('iv' || ${g}) placing '4' from 13) placing '8' from 17)::uuid`;

/**
 * A connection of its own for seeding, whose rows go to `organizationId` (`default` unless named):
 * set for the whole session, which is safe here only because nothing else uses this connection.
 */
export async function withClient<T>(
  url: string,
  run: (c: pg.Client) => Promise<T>,
  organizationId: string = DEFAULT_ORGANIZATION.id,
): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Bulk loading only: a crash mid-seed loses nothing the bench needs.
    await client.query('SET synchronous_commit = off');
    await client.query(`SELECT set_config('app.organization_id', $1, false)`, [organizationId]);
    return await run(client);
  } finally {
    await client.end();
  }
}

/** p0 … p(count-1) mapped to WeCom members b0 … b(count-1). */
export async function seedMappings(c: pg.Client, count: number): Promise<void> {
  await c.query(
    `INSERT INTO user_mappings (corp_id, platform_user_id, wecom_user_id, source, created_by)
     SELECT $1, 'p' || g, 'b' || g, 'admin', $2 FROM generate_series(0, $3 - 1) g`,
    [CORP_ID, BENCH_USER, count],
  );
}

/**
 * `count` scheduled interviews, booked by the bench user, starting from three days out (one a
 * minute, round the clock), created one a second up to now; their interviewers and the booking
 * recruiter as participants; and the two default reminders (1440 and 15 minutes before),
 * pending.
 */
export async function seedInterviews(c: pg.Client, seed: InterviewSeed): Promise<void> {
  const { count, interviewersEach, pool } = seed;
  await c.query('BEGIN');
  const rebuild = await withoutIndexes(c, [
    'interviews',
    'interview_participants',
    'interview_reminders',
  ]);
  await c.query(
    `INSERT INTO interviews (id, title, position, candidate_name, starts_at, duration_minutes,
                             room_url, created_by, created_at, updated_at)
     SELECT ${interviewId('g')}, '前端工程师 二面 #' || g, '高级前端工程师', '候选人 ' || g,
            date_trunc('minute', now()) + interval '3 days' + (g % 100000) * interval '1 minute',
            60, 'https://www.showmebug.com/pads/SEED' || g, $2,
            now() - ($1 - g) * interval '1 second', now() - ($1 - g) * interval '1 second'
       FROM generate_series(1, $1) g`,
    [count, BENCH_USER],
  );
  await c.query(
    `INSERT INTO interview_participants (interview_id, platform_user_id, role)
     SELECT ${interviewId('g')}, 'p' || ((g * $2 + k) % $3), 'interviewer'
       FROM generate_series(1, $1) g, generate_series(0, $2 - 1) k
     UNION ALL
     SELECT ${interviewId('g')}, $4, 'recruiter' FROM generate_series(1, $1) g`,
    [count, interviewersEach, pool, BENCH_USER],
  );
  await c.query(
    `INSERT INTO interview_reminders (interview_id, kind, lead_minutes, due_at)
     SELECT i.id, 'before_start', l.lead, i.starts_at - l.lead * interval '1 minute'
       FROM interviews i CROSS JOIN (VALUES (1440), (15)) AS l(lead)`,
  );
  await rebuild();
  await c.query('COMMIT');
  await c.query('ANALYZE');
}

/**
 * Drops the indexes and keys of `tables` (and foreign keys pointing at them) and returns what
 * puts them back, exactly as the migrations made them: building an index once over a million
 * rows is far faster than a million inserts into it, and the keys are checked when re-added.
 */
async function withoutIndexes(c: pg.Client, tables: string[]): Promise<() => Promise<void>> {
  const constraints = (
    await c.query<{ tbl: string; name: string; def: string }>(
      `SELECT conrelid::regclass::text AS tbl, conname AS name, pg_get_constraintdef(oid) AS def
         FROM pg_constraint
        WHERE contype IN ('p', 'u', 'f')
          AND (conrelid::regclass::text = ANY($1) OR confrelid::regclass::text = ANY($1))
        ORDER BY contype = 'f' DESC, conname`,
      [tables],
    )
  ).rows;
  const indexes = (
    await c.query<{ name: string; def: string }>(
      `SELECT indexname AS name, indexdef AS def FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename = ANY($1)
          AND indexname NOT IN (SELECT conname FROM pg_constraint)`,
      [tables],
    )
  ).rows;
  for (const i of indexes) await c.query(`DROP INDEX "${i.name}"`);
  for (const k of constraints) await c.query(`ALTER TABLE ${k.tbl} DROP CONSTRAINT "${k.name}"`);
  return async () => {
    await c.query("SET LOCAL maintenance_work_mem = '256MB'");
    for (const k of [...constraints].reverse()) {
      await c.query(`ALTER TABLE ${k.tbl} ADD CONSTRAINT "${k.name}" ${k.def}`);
    }
    for (const i of indexes) await c.query(i.def);
  };
}
