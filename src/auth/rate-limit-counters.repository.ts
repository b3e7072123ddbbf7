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
   * Counts requests in one statement, `count` of them for each key: a new key, or one whose
   * window started `ttlMs` or more before its `at` (ms), starts a window at `at` with `count`;
   * otherwise its count goes up by `count`. Answers each key's window after the statement, in
   * the order given. The row lock of ON CONFLICT DO UPDATE serialises the instances counting the
   * same key, so none of them reads a stale count; the keys must be distinct, and sorted, so that
   * two instances lock shared keys in the same order and never wait on each other in a cycle.
   */
  async hitMany(
    hits: readonly { key: string; at: number; count: number }[],
    ttlMs: number,
  ): Promise<{ startedAt: number; count: number }[]> {
    const rows: { key: string; started_at: string; count: number }[] = await this.db.unscoped((m) =>
      m.query(
        `INSERT INTO rate_limit_counters AS c (key, started_at, count)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::integer[])
           ON CONFLICT (key) DO UPDATE SET
             count = CASE WHEN c.started_at <= excluded.started_at - $4
                          THEN excluded.count ELSE c.count + excluded.count END,
             started_at = CASE WHEN c.started_at <= excluded.started_at - $4
                               THEN excluded.started_at ELSE c.started_at END
           RETURNING key, started_at, count`,
        [hits.map((h) => h.key), hits.map((h) => h.at), hits.map((h) => h.count), ttlMs],
      ),
    );
    const byKey = new Map(rows.map((r) => [r.key, r]));
    return hits.map((h) => {
      const row = byKey.get(h.key)!;
      return { startedAt: Number(row.started_at), count: row.count };
    });
  }

  /** Deletes the windows that started at or before `endedBy` (ms): they have ended. */
  async deleteEnded(endedBy: number): Promise<void> {
    await this.db.unscoped((m) =>
      m.query('DELETE FROM rate_limit_counters WHERE started_at <= $1', [endedBy]),
    );
  }
}
