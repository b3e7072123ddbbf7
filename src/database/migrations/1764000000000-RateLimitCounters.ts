import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Rate-limit counters shared by every instance (RATE_LIMIT_STORE=postgres). One row per key
 * (its window's start in epoch ms, and its count). UNLOGGED: no WAL for a write per request;
 * after a crash the table is empty, which only restarts the windows.
 */
export class RateLimitCounters1764000000000 implements MigrationInterface {
  name = 'RateLimitCounters1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE UNLOGGED TABLE rate_limit_counters (
        key         text    NOT NULL,
        started_at  bigint  NOT NULL,
        count       integer NOT NULL,
        CONSTRAINT "PK_rate_limit_counters" PRIMARY KEY (key)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE rate_limit_counters');
  }
}
