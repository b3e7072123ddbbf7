import type { MigrationInterface, QueryRunner } from 'typeorm';

export class WeComCredentials1763888400000 implements MigrationInterface {
  name = 'WeComCredentials1763888400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE wecom_credentials (
        kind        text        NOT NULL CHECK (kind IN ('access_token', 'jsapi_corp_ticket', 'jsapi_agent_ticket')),
        corp_id     text        NOT NULL,
        agent_id    integer     NOT NULL,
        value       text        NOT NULL,
        expires_at  timestamptz NOT NULL,
        fetched_at  timestamptz NOT NULL,
        PRIMARY KEY (kind, corp_id, agent_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE wecom_credentials');
  }
}
