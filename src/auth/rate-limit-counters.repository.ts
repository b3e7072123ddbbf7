import { Injectable } from '@nestjs/common';

import { TransactionHost } from '../database/transaction-host.js';

/**
 * The `rate_limit_counters` table (UNLOGGED): one row per limited key and its current window.
 *
 * It belongs to no organisation (a key carries whatever it limits), so its statements run
 * `unscoped`, on the pool, never inside a caller's transaction: the guards that count run before
 * any handler opens one. Keep it that way: a count must not roll back with the request's work,
 * and the row lock of the upsert must not be held for the length of someone else's transaction.
 */
@Injectable()
export class RateLimitCountersRepository {
  constructor(private readonly db: TransactionHost) {}

  /** False once the pool is closed (the sweep timer may fire while the app shuts down). */
  get isOpen(): boolean {
    return this.db.isOpen;
  }

  /**
   * Counts one request for `key` at `now` (ms) in one statement: a new key, or one whose window
   * started at or before `endedBy`, starts a window at `now` with 1; otherwise its count goes up
   * by one. The row lock of ON CONFLICT DO UPDATE serialises the instances counting the same
   * key, so none of them reads a stale count.
   */
  async hit(
    key: string,
    now: number,
    endedBy: number,
  ): Promise<{ startedAt: number; count: number }> {
    const rows: { started_at: string; count: number }[] = await this.db.unscoped((m) =>
      m.query(
        `INSERT INTO rate_limit_counters AS c (key, started_at, count) VALUES ($1, $2, 1)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN c.started_at <= $3 THEN 1 ELSE c.count + 1 END,
         started_at = CASE WHEN c.started_at <= $3 THEN $2 ELSE c.started_at END
       RETURNING started_at, count`,
        [key, now, endedBy],
      ),
    );
    return { startedAt: Number(rows[0].started_at), count: rows[0].count };
  }

  /** Deletes the windows that started at or before `endedBy` (ms): they have ended. */
  async deleteEnded(endedBy: number): Promise<void> {
    await this.db.unscoped((m) =>
      m.query('DELETE FROM rate_limit_counters WHERE started_at <= $1', [endedBy]),
    );
  }
}
