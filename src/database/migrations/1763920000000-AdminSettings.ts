import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Runtime settings edited by admins (one row, secrets sealed), their audit trail, and sealed
 * WeCom credentials: the cached tokens stored in plaintext so far are dropped (they are fetched
 * again on demand) and compare-and-set moves to a fingerprint of the value.
 */
export class AdminSettings1763920000000 implements MigrationInterface {
  name = 'AdminSettings1763920000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE app_settings (
        id          smallint    NOT NULL DEFAULT 1,
        version     bigint      NOT NULL,
        sandbox     boolean     NOT NULL,
        corp_id     text        NOT NULL,
        agent_id    integer     NOT NULL,
        secrets     jsonb       NOT NULL,
        options     jsonb       NOT NULL,
        updated_at  timestamptz NOT NULL,
        updated_by  text,
        CONSTRAINT "PK_app_settings" PRIMARY KEY (id),
        CONSTRAINT app_settings_single_row CHECK (id = 1)
      )`);
    await q.query(`
      CREATE TABLE config_audit (
        id          bigserial   NOT NULL,
        at          timestamptz NOT NULL,
        actor       text        NOT NULL,
        action      text        NOT NULL,
        fields      text[]      NOT NULL,
        outcome     text        NOT NULL,
        detail      text,
        version     bigint,
        request_id  text,
        CONSTRAINT "PK_config_audit" PRIMARY KEY (id)
      )`);
    await q.query('CREATE INDEX config_audit_at_idx ON config_audit (at, id)');
    await q.query('DELETE FROM wecom_credentials');
    await q.query('ALTER TABLE wecom_credentials ADD COLUMN value_fingerprint text NOT NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DELETE FROM wecom_credentials');
    await q.query('ALTER TABLE wecom_credentials DROP COLUMN value_fingerprint');
    await q.query('DROP TABLE config_audit');
    await q.query('DROP TABLE app_settings');
  }
}
