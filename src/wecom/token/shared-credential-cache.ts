import { Logger } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';

import type { Clock } from '../../common/clock.js';
import { fingerprint, type SecretBox } from '../../settings/secret-box.js';
import { WeComCredentialEntity, type WeComCredentialKind } from './wecom-credential.entity.js';

export interface FetchedCredential {
  value: string;
  expiresInSeconds: number;
}

export interface CredentialKey {
  kind: WeComCredentialKind;
  corpId: string;
  agentId: number;
}

/** Below this many seconds left, a stored credential is not handed out any more. */
const MIN_USABLE_SECONDS = 30;

/**
 * A WeCom credential (access token, JS-SDK ticket) shared through PostgreSQL by every instance:
 * - in a process, concurrent callers share one in-flight load;
 * - across instances, a refresh runs under a transaction-scoped advisory lock, and whoever
 *   waited on it re-reads the row and finds the fresh value instead of fetching again;
 * - invalidation is compare-and-set on the value, so a hundred callers that all saw the same
 *   bad token cause one refetch (on a fingerprint: the stored value is sealed).
 */
export class SharedCredentialCache {
  private readonly logger = new Logger(SharedCredentialCache.name);
  private cached?: { value: string; expiresAt: number };
  private inflight?: Promise<string>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private key: CredentialKey,
    /** Runs inside the refresh's locked transaction; `tx` is for reads that must see it. */
    private readonly fetch: (tx: EntityManager) => Promise<FetchedCredential>,
    private readonly box: SecretBox,
    /**
     * Runs before the refresh's transaction opens: what `fetch` needs from the database (the
     * access token a ticket call uses) must be loaded outside it, as PGlite has one session.
     */
    private readonly prepare?: () => Promise<unknown>,
  ) {}

  /** Credentials changed (admin config): forget the cached value. */
  rekey(key: CredentialKey): void {
    this.key = key;
    this.cached = undefined;
  }

  get currentKey(): CredentialKey {
    return this.key;
  }

  /** Seconds the cached value has left, or null when none is known. */
  secondsLeft(): number | null {
    if (!this.cached) return null;
    return Math.max(0, Math.floor((this.cached.expiresAt - this.clock.nowMs()) / 1000));
  }

  async get(): Promise<string> {
    if (this.cached && this.cached.expiresAt - this.clock.nowMs() > MIN_USABLE_SECONDS * 1000) {
      return this.cached.value;
    }
    this.inflight ??= this.load(MIN_USABLE_SECONDS).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Refreshes when fewer than `marginSeconds` are left; one fetch across all instances. */
  async refreshIfExpiring(marginSeconds: number): Promise<boolean> {
    const before = this.cached?.value;
    if (this.inflight) await this.inflight.catch(() => undefined);
    const value = await this.load(marginSeconds);
    return value !== before;
  }

  async invalidate(value: string): Promise<void> {
    if (this.cached?.value === value) this.cached = undefined;
    await this.dataSource
      .createQueryBuilder()
      .update(WeComCredentialEntity)
      .set({ expiresAt: new Date(0) })
      .where(
        'kind = :kind AND corp_id = :corpId AND agent_id = :agentId AND value_fingerprint = :fp',
        { ...this.key, fp: fingerprint(value) },
      )
      .execute();
  }

  /**
   * Drops the stored value of `key` whatever it is (the credentials behind it changed), under the
   * lock a refresh holds, so a refresh started with the old credentials cannot outlive it.
   */
  async forget(key: CredentialKey = this.key): Promise<void> {
    this.cached = undefined;
    await this.dataSource.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.lockName(key)]);
      await tx.getRepository(WeComCredentialEntity).delete({ ...key });
    });
  }

  private async load(marginSeconds: number): Promise<string> {
    const fresh = await this.read(this.dataSource, marginSeconds);
    if (fresh) return this.remember(fresh);
    await this.prepare?.();
    return this.dataSource.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.lockName()]);
      // Whoever held the lock before us may have refreshed it already.
      const again = await this.read(tx.connection, marginSeconds, tx);
      if (again) return this.remember(again);
      const fetched = await this.fetch(tx);
      const now = this.clock.now();
      const expiresAt = new Date(now.getTime() + fetched.expiresInSeconds * 1000);
      const row = tx.getRepository(WeComCredentialEntity).create({
        ...this.key,
        value: this.box.seal(fetched.value),
        valueFingerprint: fingerprint(fetched.value),
        fetchedAt: now,
        expiresAt,
      });
      await tx.getRepository(WeComCredentialEntity).upsert(row, ['kind', 'corpId', 'agentId']);
      this.logger.log(
        `Fetched a new ${this.key.kind} for corp ${this.key.corpId} agent ${this.key.agentId} (valid ${fetched.expiresInSeconds} s)`,
      );
      this.cached = { value: fetched.value, expiresAt: expiresAt.getTime() };
      return fetched.value;
    });
  }

  /** The stored value, opened, when it has more than `marginSeconds` left. */
  private async read(
    dataSource: DataSource,
    marginSeconds: number,
    tx?: EntityManager,
  ): Promise<{ value: string; expiresAt: Date } | null> {
    const repo = (tx ?? dataSource.manager).getRepository(WeComCredentialEntity);
    const row = await repo.findOneBy({ ...this.key });
    if (!row) return null;
    const left = row.expiresAt.getTime() - this.clock.nowMs();
    if (left <= marginSeconds * 1000) return null;
    try {
      return { value: this.box.open(row.value), expiresAt: row.expiresAt };
    } catch (error) {
      // Sealed with a key we no longer hold: as good as absent, a fresh one replaces it.
      this.logger.warn(`Ignoring the stored ${this.key.kind}: ${(error as Error).message}`);
      return null;
    }
  }

  private remember(row: { value: string; expiresAt: Date }): string {
    this.cached = { value: row.value, expiresAt: row.expiresAt.getTime() };
    return row.value;
  }

  private lockName(key: CredentialKey = this.key): string {
    return `wecom:${key.kind}:${key.corpId}:${key.agentId}`;
  }
}
