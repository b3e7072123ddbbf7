import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each organisation names its console admins (WeCom userids of its own corp), set by the platform
 * operator; `default` keeps CONSOLE_ADMINS as well. `version` counts changes to the row, so that
 * PATCH /api/organizations/:id can honour If-Match (ETag `"<version>"`).
 */
export class OrganizationConsoleAdmins1764600000000 implements MigrationInterface {
  name = 'OrganizationConsoleAdmins1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE organizations
        ADD COLUMN console_admins text[] NOT NULL DEFAULT '{}',
        ADD COLUMN version integer NOT NULL DEFAULT 1,
        ADD CONSTRAINT organizations_console_admins_check
          CHECK (cardinality(console_admins) <= 100),
        ADD CONSTRAINT organizations_version_check CHECK (version >= 1)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE organizations
        DROP CONSTRAINT organizations_version_check,
        DROP CONSTRAINT organizations_console_admins_check,
        DROP COLUMN version,
        DROP COLUMN console_admins`);
  }
}
