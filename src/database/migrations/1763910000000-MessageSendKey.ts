import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Recipients of several messages with identical content can share one WeCom call. The call's
 * key is kept on each of them, so that a call whose outcome was never saved is resent to exactly
 * the same list (identical JSON, which WeCom's duplicate check recognises).
 */
export class MessageSendKey1763910000000 implements MigrationInterface {
  name = 'MessageSendKey1763910000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE message_recipients ADD COLUMN send_key text');
    await q.query(
      `CREATE INDEX message_recipients_send_key_idx ON message_recipients (send_key)
       WHERE send_key IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX message_recipients_send_key_idx');
    await q.query('ALTER TABLE message_recipients DROP COLUMN send_key');
  }
}
