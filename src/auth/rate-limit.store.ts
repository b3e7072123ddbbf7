import { Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

import { GroupCommitQueue } from '../common/group-commit-queue.js';
import type { AppConfigService } from '../config/app-config.js';
import { DatabaseEngine } from '../database/database-engine.js';
import { RateLimitCountersRepository } from './rate-limit-counters.repository.js';

/** Counters kept between sweeps in memory; past this many, old windows are dropped at once. */
const MAX_KEYS = 100_000;
/** Requests counted by one statement of the PostgreSQL store, at most. */
const MAX_HITS_PER_STATEMENT = 1000;

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

interface Hit {
  key: string;
  now: number;
  ttlMs: number;
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
 * a window's counts, which only lets a client start afresh). The requests of this process are
 * counted in a group commit: one upsert at a time, and the requests that arrive while it runs
 * (both guards', every key's) are counted together by the next one, so under load two
 * statements per request become one per batch, while a lone request still waits for one. Each
 * request gets a count of its own, so the limit stays exact across instances. Windows that have
 * ended are deleted by a sweep every window length.
 */
export class PostgresRateLimitStore
  extends RateLimitStore
  implements OnApplicationBootstrap, OnModuleDestroy
{
  readonly kind = 'postgres' as const;
  private readonly logger = new Logger('RateLimitStore');
  private sweeper: NodeJS.Timeout | undefined;
  private readonly hits = new GroupCommitQueue<Hit, RateLimitWindow>(
    (batch) => this.countBatch(batch),
    MAX_HITS_PER_STATEMENT,
  );

  constructor(
    private readonly counters: RateLimitCountersRepository,
    private readonly ttlMs: number,
  ) {
    super();
  }

  /**
   * The sweep starts once the app is up, not when this provider is built: an app whose start
   * fails after it (a missing encryption key) is never closed, and its timer would go on
   * querying a pool nobody ends.
   */
  onApplicationBootstrap(): void {
    this.sweeper = setInterval(() => void this.sweep(this.ttlMs), this.ttlMs);
    this.sweeper.unref();
  }

  /** Counted in the next batch (countBatch); a failure reaches the guard, which fails open. */
  hit(key: string, now: number, ttlMs: number): Promise<RateLimitWindow> {
    return this.hits.save({ key, now, ttlMs });
  }

  /**
   * One statement per window length in the batch (the guards share one, THROTTLE_TTL_S). A key's
   * requests are counted together at the latest `now` among them, and the i-th of n gets the
   * i-th of the n counts its key went up by.
   */
  private async countBatch(batch: Hit[]): Promise<RateLimitWindow[]> {
    const answers: RateLimitWindow[] = new Array<RateLimitWindow>(batch.length);
    for (const ttlMs of new Set(batch.map((h) => h.ttlMs))) {
      const byKey = new Map<string, { at: number; positions: number[] }>();
      batch.forEach((h, i) => {
        if (h.ttlMs !== ttlMs) return;
        const group = byKey.get(h.key);
        if (group) {
          group.at = Math.max(group.at, h.now);
          group.positions.push(i);
        } else byKey.set(h.key, { at: h.now, positions: [i] });
      });
      const keys = [...byKey.keys()].sort();
      const windows = await this.counters.hitMany(
        keys.map((key) => ({
          key,
          at: byKey.get(key)!.at,
          count: byKey.get(key)!.positions.length,
        })),
        ttlMs,
      );
      keys.forEach((key, k) => {
        const { positions } = byKey.get(key)!;
        const { startedAt, count } = windows[k];
        positions.forEach((position, i) => {
          answers[position] = { startedAt, count: count - positions.length + 1 + i };
        });
      });
    }
    return answers;
  }

  /** Deletes the windows that have ended. */
  async sweep(ttlMs: number, nowMs = Date.now()): Promise<void> {
    // The timer may fire while the app shuts down.
    if (!this.counters.isOpen) return;
    try {
      await this.counters.deleteEnded(nowMs - ttlMs);
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
  inject: [ConfigService, DatabaseEngine, RateLimitCountersRepository],
  useFactory: (
    config: AppConfigService,
    engine: DatabaseEngine,
    counters: RateLimitCountersRepository,
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
      ? new PostgresRateLimitStore(counters, ttlMs)
      : new MemoryRateLimitStore();
  },
};
