import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Messaging stops knowing about interviews: `messages.interview_id` becomes `group_key`, an
 * opaque text that the sender chooses for messages which go out together (the dispatcher claims a
 * group's due messages at once, so identical cards can share a WeCom call). The interviews module
 * keeps using the interview id as the key, so existing rows keep their grouping unchanged.
 */
export class MessageGroupKey1764400000000 implements MigrationInterface {
  name = 'MessageGroupKey1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX messages_interview_idx');
    await q.query('ALTER TABLE messages RENAME COLUMN interview_id TO group_key');
    await q.query('ALTER TABLE messages ALTER COLUMN group_key TYPE text');
    await q.query(
      `ALTER TABLE messages ADD CONSTRAINT messages_group_key_check CHECK (length(group_key) BETWEEN 1 AND 200)`,
    );
    await q.query(
      'CREATE INDEX messages_group_idx ON messages (group_key) WHERE group_key IS NOT NULL',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX messages_group_idx');
    await q.query('ALTER TABLE messages DROP CONSTRAINT messages_group_key_check');
    // Keys that are not interview ids (none are written before this migration) cannot go back.
    await q.query(
      `UPDATE messages SET group_key = NULL
        WHERE group_key !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'`,
    );
    await q.query('ALTER TABLE messages ALTER COLUMN group_key TYPE uuid USING group_key::uuid');
    await q.query('ALTER TABLE messages RENAME COLUMN group_key TO interview_id');
    await q.query(
      'CREATE INDEX messages_interview_idx ON messages (interview_id) WHERE interview_id IS NOT NULL',
    );
  }
}
