import type { MigrationInterface, QueryRunner } from 'typeorm';

export class WeComEvents1763899200000 implements MigrationInterface {
  name = 'WeComEvents1763899200000';

  async up(q: QueryRunner): Promise<void> {
    // Every callback WeCom delivered and we accepted (signature, freshness and receiver checked).
    await q.query(`
      CREATE TABLE wecom_events (
        id             bigserial   PRIMARY KEY,
        dedupe_key     text        NOT NULL CHECK (length(dedupe_key) BETWEEN 1 AND 1024),
        msg_type       text        NOT NULL CHECK (length(msg_type) BETWEEN 1 AND 64),
        event          text,
        from_user      text        NOT NULL,
        agent_id       integer,
        create_time    timestamptz NOT NULL,
        body           text        NOT NULL,
        received_at    timestamptz NOT NULL,
        processed_at   timestamptz,
        handler_error  text
      )`);
    // WeCom retries a callback it thinks went unanswered: the second insert must lose.
    await q.query('CREATE UNIQUE INDEX wecom_events_dedupe_uq ON wecom_events (dedupe_key)');
    // The sweep's question: what was stored but never dispatched (a crash in between)?
    await q.query(
      'CREATE INDEX wecom_events_pending_idx ON wecom_events (received_at) WHERE processed_at IS NULL',
    );

    // OAuth `state` nonces: a state is good once, for the redirect it was issued with.
    await q.query(`
      CREATE TABLE oauth_states (
        nonce       text        PRIMARY KEY CHECK (length(nonce) BETWEEN 16 AND 64),
        redirect    text        NOT NULL CHECK (length(redirect) BETWEEN 1 AND 2048),
        created_at  timestamptz NOT NULL,
        expires_at  timestamptz NOT NULL
      )`);
    await q.query('CREATE INDEX oauth_states_expires_idx ON oauth_states (expires_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE oauth_states');
    await q.query('DROP TABLE wecom_events');
  }
}
