import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The lower-cased copies of the two ids the People search matches (see UserMappingEntity). */
const LOWERED = [
  { column: 'platform_user_id_lower', expression: 'lower(platform_user_id)' },
  { column: 'wecom_user_id_lower', expression: 'lower(wecom_user_id)' },
];

/**
 * The console's People search (`GET /api/user-mappings?q=`) matches a prefix of the platform user
 * id or the WeCom userid, case-insensitively, through an index.
 *
 * Not an index on `lower(column)`: under row-level security PostgreSQL applies a query's own
 * conditions after the policy's unless every function in them is LEAKPROOF, and lower() and LIKE
 * are not, so such an index is never used for the service's role (it scans the organisation's
 * rows). Hence stored generated columns holding the lower-cased ids, matched with starts_with()
 * (leakproof; PostgreSQL 15 turns it into a range on a `text_pattern_ops` index). Generated
 * columns also fill existing rows without an UPDATE, which row-level security would filter for an
 * owner that is not a superuser.
 *
 * TypeORM reads a generated column's expression from its `typeorm_metadata` table (the schema
 * spec compares it with the entity's), so that table is created here as TypeORM creates it.
 */
export class UserMappingSearch1764600000001 implements MigrationInterface {
  name = 'UserMappingSearch1764600000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE IF NOT EXISTS typeorm_metadata (
        "type" varchar NOT NULL, "database" varchar, "schema" varchar, "table" varchar,
        "name" varchar, "value" text
      )`);
    for (const { column, expression } of LOWERED) {
      await q.query(
        `ALTER TABLE user_mappings ADD COLUMN ${column} text NOT NULL GENERATED ALWAYS AS (${expression}) STORED`,
      );
      await q.query(
        `INSERT INTO typeorm_metadata ("type", "database", "schema", "table", "name", "value")
         VALUES ('GENERATED_COLUMN', current_database(), current_schema(), 'user_mappings', $1, $2)`,
        [column, expression],
      );
    }
    await q.query(
      `CREATE INDEX user_mappings_platform_prefix_idx
         ON user_mappings (organization_id, corp_id, platform_user_id_lower text_pattern_ops)`,
    );
    await q.query(
      `CREATE INDEX user_mappings_wecom_prefix_idx
         ON user_mappings (organization_id, corp_id, wecom_user_id_lower text_pattern_ops)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const { column } of LOWERED) {
      await q.query(`ALTER TABLE user_mappings DROP COLUMN ${column}`); // and its index
      await q.query(
        `DELETE FROM typeorm_metadata
          WHERE "type" = 'GENERATED_COLUMN' AND "table" = 'user_mappings' AND "name" = $1`,
        [column],
      );
    }
  }
}
