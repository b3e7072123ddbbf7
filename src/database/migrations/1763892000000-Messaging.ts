import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Messaging1763892000000 implements MigrationInterface {
  name = 'Messaging1763892000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE user_mappings (
        id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        corp_id           text        NOT NULL,
        platform_user_id  text        NOT NULL CHECK (length(platform_user_id) BETWEEN 1 AND 128),
        wecom_user_id     text        NOT NULL CHECK (length(wecom_user_id) BETWEEN 1 AND 64),
        source            text        NOT NULL CHECK (source IN ('admin', 'oauth', 'mobile', 'email')),
        language          text        NOT NULL DEFAULT 'zh' CHECK (language IN ('zh', 'en')),
        created_by        text,
        created_at        timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      'CREATE UNIQUE INDEX user_mappings_platform_uq ON user_mappings (corp_id, platform_user_id)',
    );
    // WeCom user ids are case-insensitive (its answers lower-case them).
    await q.query(
      'CREATE UNIQUE INDEX user_mappings_wecom_uq ON user_mappings (corp_id, lower(wecom_user_id))',
    );
    await q.query('CREATE INDEX user_mappings_created_idx ON user_mappings (created_at, id)');

    await q.query(`
      CREATE TABLE messages (
        id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        corp_id          text        NOT NULL,
        agent_id         integer     NOT NULL,
        kind             text        NOT NULL,
        msgtype          text        NOT NULL CHECK (msgtype IN ('text', 'markdown', 'textcard', 'news', 'template_card')),
        content          jsonb       NOT NULL,
        idempotency_key  text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
        interview_id     uuid,
        status           text        NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'sending', 'sent', 'partially_sent', 'failed', 'skipped', 'recalled')),
        attempts         integer     NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz,
        lease_until      timestamptz,
        leased_by        text,
        wecom_msgid      text,
        response_code    text,
        last_errcode     integer,
        last_errmsg      text,
        created_by       text,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        sent_at          timestamptz
      )`);
    await q.query('CREATE UNIQUE INDEX messages_idempotency_uq ON messages (idempotency_key)');
    // The dispatcher's question: what is due (queued or with an expired lease)?
    await q.query(
      `CREATE INDEX messages_due_idx ON messages (next_attempt_at) WHERE status IN ('queued', 'sending')`,
    );
    await q.query('CREATE INDEX messages_created_idx ON messages (created_at DESC, id DESC)');
    await q.query(
      'CREATE INDEX messages_interview_idx ON messages (interview_id) WHERE interview_id IS NOT NULL',
    );

    await q.query(`
      CREATE TABLE message_recipients (
        id                bigserial   PRIMARY KEY,
        message_id        uuid        NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        platform_user_id  text,
        wecom_user_id     text,
        status            text        NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'sending', 'delivered', 'invalid_user', 'unlicensed', 'no_mapping', 'rate_limited', 'failed')),
        not_before        timestamptz,
        last_attempt_at   timestamptz,
        wecom_msgid       text,
        response_code     text,
        delivered_at      timestamptz,
        CHECK (platform_user_id IS NOT NULL OR wecom_user_id IS NOT NULL)
      )`);
    await q.query('CREATE INDEX message_recipients_message_idx ON message_recipients (message_id)');
    // Pacing: how many deliveries a member had in the last minute.
    await q.query(
      `CREATE INDEX message_recipients_pacing_idx ON message_recipients (lower(wecom_user_id), last_attempt_at)
       WHERE status IN ('sending', 'delivered')`,
    );
    await q.query(
      'CREATE INDEX message_recipients_platform_idx ON message_recipients (platform_user_id, message_id)',
    );

    await q.query(`
      CREATE TABLE message_attempts (
        id               bigserial   PRIMARY KEY,
        message_id       uuid        NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        started_at       timestamptz NOT NULL,
        latency_ms       integer     NOT NULL,
        path             text        NOT NULL,
        errcode          integer,
        errmsg           text        NOT NULL,
        http_status      integer,
        recipient_count  integer     NOT NULL
      )`);
    await q.query(
      'CREATE INDEX message_attempts_message_idx ON message_attempts (message_id, started_at)',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE message_attempts');
    await q.query('DROP TABLE message_recipients');
    await q.query('DROP TABLE messages');
    await q.query('DROP TABLE user_mappings');
  }
}
