import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The companies one deployment serves. Every existing row belongs to `default`, created here
 * with a fixed id so that the migrations that move rows into it (and specs and docs) can name it.
 */
export class Organizations1764500000000 implements MigrationInterface {
  name = 'Organizations1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE organizations (
        id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
        slug       text        NOT NULL,
        name       text        NOT NULL,
        status     text        NOT NULL DEFAULT 'active',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT organizations_slug_check CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
        CONSTRAINT organizations_name_check CHECK (length(name) BETWEEN 1 AND 200),
        CONSTRAINT organizations_status_check CHECK (status IN ('active', 'suspended'))
      )`);
    await q.query('CREATE UNIQUE INDEX organizations_slug_uq ON organizations (slug)');
    await q.query(
      `INSERT INTO organizations (id, slug, name) VALUES ('00000000-0000-0000-0000-000000000001', 'default', 'Default')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE organizations');
  }
}
