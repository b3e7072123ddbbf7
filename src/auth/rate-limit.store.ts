import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DataSource } from 'typeorm';

import type { AppConfigService } from '../config/app-config.js';
import { DatabaseEngine } from '../database/database-engine.js';

/** Counters kept between sweeps in memory; past this many, old windows are dropped at once. */
const MAX_KEYS = 100_000;

/** A key's current window: when it started (ms) and the requests counted in it so far. */
export interface RateLimitWindow {
  startedAt: number;
  count: number;
}

/**
 * Where rate-limit counters live. A key's window starts with its first request and lasts
 * `ttlMs`; the first request after that starts a new one.
 */
export abstract class RateLimitStore {
  abstract readonly kind: 'memory' | 'postgres';
  /** Counts one request for `key` at `now` (ms); the window it was counted in. */
  abstract hit(key: string, now: number, ttlMs: number): Promise<RateLimitWindow>;
}

/** Each process counts on its own: N instances admit up to N times the limit. */
export class MemoryRateLimitStore extends RateLimitStore {
  readonly kind = 'memory' as const;
  private readonly windows = new Map<string, RateLimitWindow>();

  hit(key: string, now: number, ttlMs: number): Promise<RateLimitWindow> {
    let window = this.windows.get(key);
    if (!window || now - window.startedAt >= ttlMs) {
      if (!window && this.windows.size >= MAX_KEYS) this.sweep(now, ttlMs);
      window = { startedAt: now, count: 0 };
      this.windows.set(key, window);
    }
    window.count++;
    return Promise.resolve({ ...window });
  }

  private sweep(now: number, ttlMs: number): void {
    for (const [key, window] of this.windows) {
      if (now - window.startedAt >= ttlMs) this.windows.delete(key);
    }
    // Still full (a flood of distinct addresses): forget the oldest half rather than grow.
    if (this.windows.size >= MAX_KEYS) {
      let drop = this.windows.size / 2;
      for (const key of this.windows.keys()) {
        if (drop-- <= 0) break;
        this.windows.delete(key);
      }
    }
  }
}

/**
 * Counters in the PostgreSQL every instance already shares (UNLOGGED table: a crash may lose
 * a window's counts, which only lets a client start afresh). One upsert per limited request;
 * windows that have ended are deleted by a sweep every window length.
 */
export class PostgresRateLimitStore extends RateLimitStore implements OnModuleDestroy {
  readonly kind = 'postgres' as const;
  private readonly logger = new Logger('RateLimitStore');
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataSource: DataSource,
    ttlMs: number,
  ) {
    super();
    this.sweeper = setInterval(() => void this.sweep(ttlMs), ttlMs);
    this.sweeper.unref();
  }

  /**
   * One statement: a new key, or one whose window has ended, starts a window at `now` with 1;
   * otherwise its count goes up by one. The row lock of ON CONFLICT DO UPDATE serialises the
   * instances counting the same key, so none of them reads a stale count.
   */
  async hit(key: string, now: number, ttlMs: number): Promise<RateLimitWindow> {
    const rows: { started_at: string; count: number }[] = await this.dataSource.query(
      `INSERT INTO rate_limit_counters AS c (key, started_at, count) VALUES ($1, $2, 1)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN c.started_at <= $3 THEN 1 ELSE c.count + 1 END,
         started_at = CASE WHEN c.started_at <= $3 THEN $2 ELSE c.started_at END
       RETURNING started_at, count`,
      [key, now, now - ttlMs],
    );
    return { startedAt: Number(rows[0].started_at), count: rows[0].count };
  }

  /** Deletes the windows that have ended. */
  async sweep(ttlMs: number, nowMs = Date.now()): Promise<void> {
    // The timer may fire while the app shuts down.
    if (!this.dataSource.isInitialized) return;
    try {
      await this.dataSource.query('DELETE FROM rate_limit_counters WHERE started_at <= $1', [
        nowMs - ttlMs,
      ]);
    } catch (error) {
      this.logger.warn(`sweeping old rate-limit windows failed: ${(error as Error).message}`);
    }
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }
}

/** RATE_LIMIT_STORE, or by default: PostgreSQL when DATABASE_URL names a server, else memory. */
export const rateLimitStoreProvider = {
  provide: RateLimitStore,
  inject: [ConfigService, DatabaseEngine, DataSource],
  useFactory: (
    config: AppConfigService,
    engine: DatabaseEngine,
    dataSource: DataSource,
  ): RateLimitStore => {
    const chosen =
      config.get('RATE_LIMIT_STORE', { infer: true }) ??
      (engine.kind === 'postgresql' ? 'postgres' : 'memory');
    const ttlMs = config.get('THROTTLE_TTL_S', { infer: true }) * 1000;
    new Logger('RateLimitStore').log(
      chosen === 'postgres'
        ? 'Rate limits: counted in PostgreSQL, shared by every instance'
        : 'Rate limits: counted in this process (each instance has its own counters)',
    );
    return chosen === 'postgres'
      ? new PostgresRateLimitStore(dataSource, ttlMs)
      : new MemoryRateLimitStore();
  },
};
