import type { MigrationInterface, QueryRunner } from 'typeorm';

import { ORGANIZATION_OWNED_TABLES } from './1764500000001-OrganizationColumns.js';

/**
 * Row-level security on every organisation-owned table (docs/design/organisations.md, sections 1
 * and 3): a role that is neither superuser nor BYPASSRLS (the service's, DATABASE_URL) sees and
 * writes only the rows of the organisation its transaction set in `app.organization_id`
 * (TransactionHost does, from the scope). Without the setting it sees no row and may insert
 * none: a query that forgot its organisation fails closed.
 *
 * - FORCE: the policy binds the tables' owner too, unless it is a superuser (the migration user
 *   in CI is `postgres`, which is why the service never connects as it).
 * - `nullif`: a session that has set the variable once reads '' afterwards, not NULL; ''::uuid
 *   would turn every unscoped query on a used connection into an error instead of no rows.
 * - Foreign-key checks and cascades are not filtered by policies, so a child's composite key
 *   still finds its parent and a deleted message still clears its reminders.
 * - The tables outside ORGANIZATION_OWNED_TABLES (organizations, rate_limit_counters, migrations)
 *   are read before a request has an organisation, and stay open to the service's role.
 */
export class OrganizationIsolation1764500000002 implements MigrationInterface {
  name = 'OrganizationIsolation1764500000002';

  async up(q: QueryRunner): Promise<void> {
    for (const table of ORGANIZATION_OWNED_TABLES) {
      await q.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
      await q.query(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`);
      await q.query(`
        CREATE POLICY organization_isolation ON ${table}
          USING      (organization_id = nullif(current_setting('app.organization_id', true), '')::uuid)
          WITH CHECK (organization_id = nullif(current_setting('app.organization_id', true), '')::uuid)`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [...ORGANIZATION_OWNED_TABLES].reverse()) {
      await q.query(`DROP POLICY organization_isolation ON ${table}`);
      await q.query(`ALTER TABLE ${table} NO FORCE ROW LEVEL SECURITY`);
      await q.query(`ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY`);
    }
  }
}
