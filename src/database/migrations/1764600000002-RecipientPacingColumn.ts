import type { MigrationInterface, QueryRunner } from 'typeorm';

const COLUMN = 'wecom_user_id_lower';
const EXPRESSION = 'lower(wecom_user_id)';

/**
 * Member pacing counts a member's recent sends (SPEND_MEMBER_SLOTS) through an index on the
 * lower-cased userid. The index on `lower(wecom_user_id)` is of no use to the service's role:
 * under row-level security a condition reaches an index only if its functions are LEAKPROOF, and
 * lower() is not, so each reservation read every send of the organisation's last hour (5 s per
 * reservation with 27,000 of them, in bench scenario 5). The lower-cased userid is kept in a
 * stored generated column instead (as UserMappingSearch does for user_mappings), compared with
 * plain, leakproof text equality. Adding it rewrites message_recipients once.
 */
export class RecipientPacingColumn1764600000002 implements MigrationInterface {
  name = 'RecipientPacingColumn1764600000002';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE message_recipients ADD COLUMN ${COLUMN} text GENERATED ALWAYS AS (${EXPRESSION}) STORED`,
    );
    await q.query(
      `INSERT INTO typeorm_metadata ("type", "database", "schema", "table", "name", "value")
       VALUES ('GENERATED_COLUMN', current_database(), current_schema(), 'message_recipients', $1, $2)`,
      [COLUMN, EXPRESSION],
    );
    await q.query('DROP INDEX message_recipients_pacing_idx');
    await q.query(
      `CREATE INDEX message_recipients_pacing_idx
         ON message_recipients (organization_id, ${COLUMN}, last_attempt_at)
       WHERE status IN ('sending', 'delivered')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE message_recipients DROP COLUMN ${COLUMN}`); // and its index
    await q.query(
      `DELETE FROM typeorm_metadata
        WHERE "type" = 'GENERATED_COLUMN' AND "table" = 'message_recipients' AND "name" = $1`,
      [COLUMN],
    );
    await q.query(
      `CREATE INDEX message_recipients_pacing_idx
         ON message_recipients (organization_id, lower(wecom_user_id), last_attempt_at)
       WHERE status IN ('sending', 'delivered')`,
    );
  }
}
