import type { MigrationInterface, QueryRunner } from 'typeorm';

const RECIPIENT_STATUSES_BEFORE = `'pending', 'sending', 'delivered', 'invalid_user', 'unlicensed', 'no_mapping', 'rate_limited', 'failed'`;

/**
 * Mappings follow WeCom's contact events: a member who left or was removed (`left`) or was
 * disabled (`disabled`) keeps their mapping, marked, and sends to them are recorded as
 * `inactive_mapping` instead of going out.
 */
export class UserMappingStatus1763930000000 implements MigrationInterface {
  name = 'UserMappingStatus1763930000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE user_mappings
        ADD COLUMN status text NOT NULL DEFAULT 'active',
        ADD COLUMN status_changed_at timestamptz,
        ADD CONSTRAINT user_mappings_status_check CHECK (status IN ('active', 'disabled', 'left'))`);
    await q.query(`
      ALTER TABLE message_recipients
        DROP CONSTRAINT message_recipients_status_check,
        ADD CONSTRAINT message_recipients_status_check
          CHECK (status IN (${RECIPIENT_STATUSES_BEFORE}, 'inactive_mapping'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `UPDATE message_recipients SET status = 'failed' WHERE status = 'inactive_mapping'`,
    );
    await q.query(`
      ALTER TABLE message_recipients
        DROP CONSTRAINT message_recipients_status_check,
        ADD CONSTRAINT message_recipients_status_check CHECK (status IN (${RECIPIENT_STATUSES_BEFORE}))`);
    await q.query(`
      ALTER TABLE user_mappings
        DROP CONSTRAINT user_mappings_status_check,
        DROP COLUMN status_changed_at,
        DROP COLUMN status`);
  }
}
