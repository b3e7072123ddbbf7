import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Interviews1763895600000 implements MigrationInterface {
  name = 'Interviews1763895600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE interviews (
        id                          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        title                       text        NOT NULL,
        position                    text,
        candidate_name              text        NOT NULL,
        candidate_email             text,
        candidate_phone             text,
        candidate_platform_user_id  text,
        starts_at                   timestamptz NOT NULL,
        duration_minutes            integer     NOT NULL,
        timezone                    text        NOT NULL DEFAULT 'Asia/Shanghai',
        room_url                    text        NOT NULL,
        status                      text        NOT NULL DEFAULT 'scheduled',
        cancel_reason               text,
        version                     integer     NOT NULL DEFAULT 1,
        created_by                  text        NOT NULL,
        created_at                  timestamptz NOT NULL DEFAULT now(),
        updated_at                  timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT interviews_title_check CHECK (length(title) BETWEEN 1 AND 200),
        CONSTRAINT interviews_candidate_name_check CHECK (length(candidate_name) BETWEEN 1 AND 100),
        CONSTRAINT interviews_duration_minutes_check CHECK (duration_minutes BETWEEN 15 AND 480),
        CONSTRAINT interviews_timezone_check CHECK (length(timezone) BETWEEN 1 AND 64),
        CONSTRAINT interviews_room_url_check CHECK (room_url ~ '^https://[^[:space:]]+$' AND length(room_url) <= 2048),
        CONSTRAINT interviews_status_check CHECK (status IN ('scheduled', 'canceled', 'completed')),
        CONSTRAINT interviews_version_check CHECK (version >= 1)
      )`);
    await q.query('CREATE INDEX interviews_created_idx ON interviews (created_at DESC, id DESC)');
    await q.query('CREATE INDEX interviews_starts_idx ON interviews (starts_at)');

    await q.query(`
      CREATE TABLE interview_participants (
        interview_id      uuid        NOT NULL,
        platform_user_id  text        NOT NULL,
        role              text        NOT NULL,
        rsvp              text        NOT NULL DEFAULT 'pending',
        responded_at      timestamptz,
        created_at        timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT interview_participants_pkey PRIMARY KEY (interview_id, platform_user_id),
        CONSTRAINT interview_participants_interview_id_fkey FOREIGN KEY (interview_id)
          REFERENCES interviews (id) ON DELETE CASCADE,
        CONSTRAINT interview_participants_platform_user_id_check CHECK (length(platform_user_id) BETWEEN 1 AND 128),
        CONSTRAINT interview_participants_role_check CHECK (role IN ('interviewer', 'observer', 'recruiter', 'candidate')),
        CONSTRAINT interview_participants_rsvp_check CHECK (rsvp IN ('pending', 'accepted', 'declined'))
      )`);
    // "My interviews": an interviewer's list starts from their id.
    await q.query(
      'CREATE INDEX interview_participants_user_idx ON interview_participants (platform_user_id, interview_id)',
    );

    await q.query(`
      CREATE TABLE interview_reminders (
        id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        interview_id  uuid        NOT NULL,
        kind          text        NOT NULL,
        lead_minutes  integer     NOT NULL,
        due_at        timestamptz NOT NULL,
        state         text        NOT NULL DEFAULT 'pending',
        message_id    uuid,
        processed_at  timestamptz,
        created_at    timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT interview_reminders_interview_id_fkey FOREIGN KEY (interview_id)
          REFERENCES interviews (id) ON DELETE CASCADE,
        CONSTRAINT interview_reminders_message_id_fkey FOREIGN KEY (message_id)
          REFERENCES messages (id) ON DELETE SET NULL,
        CONSTRAINT interview_reminders_kind_check CHECK (kind IN ('before_start', 'feedback')),
        CONSTRAINT interview_reminders_lead_minutes_check CHECK (lead_minutes >= 0),
        CONSTRAINT interview_reminders_state_check CHECK (state IN ('pending', 'sent', 'canceled', 'missed')),
        CONSTRAINT interview_reminders_uq UNIQUE (interview_id, kind, lead_minutes)
      )`);
    // The scheduler's question, every few seconds: what is due now? Only pending rows are in
    // the index, so it stays small however much history the table holds.
    await q.query(
      `CREATE INDEX interview_reminders_due_idx ON interview_reminders (due_at) WHERE state = 'pending'`,
    );
    await q.query(
      'CREATE INDEX interview_reminders_message_idx ON interview_reminders (message_id) WHERE message_id IS NOT NULL',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE interview_reminders');
    await q.query('DROP TABLE interview_participants');
    await q.query('DROP TABLE interviews');
  }
}
