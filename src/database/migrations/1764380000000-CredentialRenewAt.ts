import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * WeCom hands out the same token again while it is valid, so a cached credential needs two
 * instants besides its last fetch: `expires_at`, the earliest it can expire (handed out until
 * then, never moved later for the same value), and `renew_at`, the latest it can expire (a new
 * one is certain to be issued from then on, so that is when to ask). `fetched_at` becomes the
 * start of the last call for this key, whatever it returned: the 5-second spacing between
 * gettoken calls across instances is measured from it. `unanswered_at` is the start of a call
 * whose answer never came (a timeout): WeCom may have issued a token then, which a later call
 * gets back as a repeat, possibly claiming its full lifetime again.
 */
export class CredentialRenewAt1764380000000 implements MigrationInterface {
  name = 'CredentialRenewAt1764380000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE wecom_credentials ADD COLUMN renew_at timestamptz');
    await q.query('UPDATE wecom_credentials SET renew_at = expires_at');
    await q.query('ALTER TABLE wecom_credentials ALTER COLUMN renew_at SET NOT NULL');
    await q.query('ALTER TABLE wecom_credentials ADD COLUMN unanswered_at timestamptz');
    await q.query(
      'ALTER TABLE wecom_credentials ADD CONSTRAINT wecom_credentials_renew_check CHECK (renew_at >= expires_at)',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE wecom_credentials DROP COLUMN unanswered_at');
    await q.query('ALTER TABLE wecom_credentials DROP COLUMN renew_at');
  }
}
