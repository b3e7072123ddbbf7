import { AsyncResource } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

import { Logger } from '@nestjs/common';

import type { Clock } from '../../common/clock.js';
import { organizationScope, type OrganizationScope } from '../../common/organization-scope.js';
import type { TransactionHost } from '../../database/transaction-host.js';
import { fingerprint, type SecretBox } from '../../settings/secret-box.js';
import { WeComApiError } from '../client/wecom-api.error.js';
import type { WeComCredentialKind } from './wecom-credential.entity.js';
import type { CredentialKey, WeComCredentialsRepository } from './wecom-credentials.repository.js';

export type { CredentialKey } from './wecom-credentials.repository.js';

export interface FetchedCredential {
  value: string;
  expiresInSeconds: number;
  /** When the HTTP call left (ms), when `fetch` did other work first. */
  requestedAt?: number;
}

/** What every cache needs, the same for all of them: its table, transactions, time, the box. */
export interface CredentialStore {
  repo: WeComCredentialsRepository;
  db: TransactionHost;
  clock: Clock;
  box: SecretBox;
}

/**
 * WeCom throttles gettoken (45009) and answers a repeat call with the same token anyway: two
 * calls for one key are at least this far apart, across every instance, whatever they return.
 */
export const MIN_FETCH_INTERVAL_MS = 5000;

/** A load waits for the next allowed call at most this many times before it gives up. */
const MAX_WAITS = 3;

const PATHS: Record<WeComCredentialKind, string> = {
  access_token: '/cgi-bin/gettoken',
  jsapi_corp_ticket: '/cgi-bin/get_jsapi_ticket',
  jsapi_agent_ticket: '/cgi-bin/ticket/get',
};

/** A stored credential, times in epoch milliseconds; `value` null when it cannot be used. */
export interface StoredCredential {
  value: string | null;
  fingerprint: string;
  /** The earliest it can expire: handed out until then. */
  expiresAt: number;
  /** The latest it can expire: a new one is certain from then on. */
  renewAt: number;
  /** Start of the last call for this key, successful or not. */
  fetchedAt: number;
  /** Start of the first call since the last answer that got none (timed out), if any. */
  unansweredAt: number | null;
}

export type RefreshPlan = { kind: 'use' } | { kind: 'fetch'; notBefore: number };

/**
 * Whether to hand out the stored value or call WeCom, and not before when.
 * - `aheadMs` undefined (a caller needs a token): any value that has not expired will do.
 * - `aheadMs` given (the cron): one early call per value once fewer than `aheadMs` are left,
 *   which gets a new token from a WeCom that issues one per call; a WeCom that hands the same
 *   one back is not asked again before it ends. No early call in its last MIN_FETCH_INTERVAL_MS,
 *   where it would hold up the call at renewal.
 * - An expired value is renewed at `renewAt` (the first instant WeCom must issue a new one), or
 *   at once when that is more than MIN_FETCH_INTERVAL_MS after `expiresAt`; one WeCom refused
 *   (invalidated) at once. Calls stay MIN_FETCH_INTERVAL_MS apart throughout.
 */
export function planRefresh(
  row: StoredCredential | null,
  now: number,
  aheadMs?: number,
): RefreshPlan {
  if (!row) return { kind: 'fetch', notBefore: now };
  const nextCallAt = row.fetchedAt + MIN_FETCH_INTERVAL_MS;
  if (row.value !== null && row.expiresAt > now) {
    if (aheadMs === undefined) return { kind: 'use' };
    const left = row.expiresAt - now;
    const triedAhead = row.fetchedAt >= row.expiresAt - aheadMs;
    if (left > aheadMs || triedAhead || left <= MIN_FETCH_INTERVAL_MS || nextCallAt > now) {
      return { kind: 'use' };
    }
    return { kind: 'fetch', notBefore: now };
  }
  if (row.value === null) return { kind: 'fetch', notBefore: nextCallAt };
  // Normally the two ends are a round trip apart and waiting for certainty costs nothing. Far
  // apart (its answer was late or lost), asking now costs at most the 5 s a repeat would.
  const certainAt = row.renewAt - row.expiresAt <= MIN_FETCH_INTERVAL_MS ? row.renewAt : 0;
  return { kind: 'fetch', notBefore: Math.max(nextCallAt, certainAt) };
}

type LoadOutcome = { value: string } | { error: unknown } | { wait: true };

/**
 * Runs `work` in the context of this module's loading: no request, transaction or organisation
 * of whoever happened to call last. A renewal timer is made in it (and then put in the cache's
 * organisation), so that it never joins a transaction that ended hours before it fires.
 */
const detached = AsyncResource.bind((work: () => void): void => work());

/**
 * One organisation's WeCom credential (access token, JS-SDK ticket), shared through PostgreSQL by
 * every instance. Everything it does runs in that organisation's scope, whoever calls:
 * - in a process, concurrent callers share one in-flight load;
 * - across instances, a refresh runs under a transaction-scoped advisory lock, and whoever
 *   waited on it re-reads the row and finds the fresh value instead of fetching again;
 * - the expiry stored is the earliest the value can end, and is never moved later when WeCom
 *   returns the same value again (what `expires_in` says then is undocumented);
 * - calls for one key are MIN_FETCH_INTERVAL_MS apart across all instances;
 * - invalidation is compare-and-set on the value, so a hundred callers that all saw the same
 *   bad token cause one refetch (on a fingerprint: the stored value is sealed).
 */
export class SharedCredentialCache {
  private readonly logger = new Logger(SharedCredentialCache.name);
  private cached?: { value: string; expiresAt: number; renewAt: number };
  private inflight?: Promise<string>;
  private renewal?: { at: number; timer: NodeJS.Timeout };
  private autoRenew = false;
  /**
   * Set once an early call got the same value back: this WeCom reuses tokens (as documented),
   * so early calls only cost a gettoken; from then on this process renews at expiry only.
   */
  private earlyCallsPointless = false;

  private readonly repo: WeComCredentialsRepository;
  private readonly db: TransactionHost;
  private readonly clock: Clock;
  private readonly box: SecretBox;

  constructor(
    store: CredentialStore,
    /** The organisation whose credential this is: its rows, its lock, its scope. */
    readonly scope: OrganizationScope,
    private key: CredentialKey,
    /**
     * Runs inside the refresh's locked transaction (what it reads from the database goes
     * through it: settings changed by another instance a moment ago).
     */
    private readonly fetch: () => Promise<FetchedCredential>,
    /**
     * Runs before the refresh's transaction opens: what `fetch` needs that is shared with other
     * callers (the access token a ticket call uses) is loaded outside it, so that the refresh
     * holds its lock only for its own call.
     */
    private readonly prepare?: () => Promise<unknown>,
  ) {
    ({ repo: this.repo, db: this.db, clock: this.clock, box: this.box } = store);
  }

  /** Credentials changed (admin config): forget the cached value. */
  rekey(key: CredentialKey): void {
    this.key = key;
    this.cached = undefined;
    this.earlyCallsPointless = false;
    this.cancelRenewal();
  }

  get currentKey(): CredentialKey {
    return this.key;
  }

  /**
   * Renews the value in this process as soon as WeCom must have a new one (its `renewAt`), so
   * that the new token is there right as the old one ends. Every instance may do so: the lock
   * and the stored row make it one call.
   */
  renewAtExpiry(enabled: boolean): void {
    this.autoRenew = enabled;
    if (!enabled) this.cancelRenewal();
    else if (this.cached) this.scheduleRenewal(this.cached.renewAt);
  }

  stop(): void {
    this.autoRenew = false;
    this.cancelRenewal();
  }

  /** Seconds the cached value has left, or null when none is known. */
  secondsLeft(): number | null {
    if (!this.cached) return null;
    return Math.max(0, Math.floor((this.cached.expiresAt - this.clock.nowMs()) / 1000));
  }

  async get(): Promise<string> {
    if (this.cached && this.cached.expiresAt > this.clock.nowMs()) return this.cached.value;
    this.inflight ??= this.within(() => this.load()).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** The cron: one early call when fewer than `marginSeconds` are left, or a renewal. */
  async refreshIfExpiring(marginSeconds: number): Promise<boolean> {
    const before = this.cached?.value;
    if (this.inflight) await this.inflight.catch(() => undefined);
    const aheadMs = this.earlyCallsPointless ? undefined : marginSeconds * 1000;
    const value = await this.within(() => this.load(aheadMs));
    return value !== before;
  }

  async invalidate(value: string): Promise<void> {
    if (this.cached?.value === value) this.cached = undefined;
    await this.within(() => this.repo.expire(this.key, fingerprint(value)));
  }

  /**
   * Drops the stored value of `key` whatever it is (the credentials behind it changed), under the
   * lock a refresh holds, so a refresh started with the old credentials cannot outlive it.
   */
  async forget(key: CredentialKey = this.key): Promise<void> {
    this.cached = undefined;
    this.cancelRenewal();
    await this.within(() =>
      this.db.transaction(async () => {
        await this.repo.lock(key);
        await this.repo.delete(key);
      }),
    );
    // A refresh that held the lock before us may have remembered the dropped value meanwhile.
    this.cached = undefined;
  }

  private async load(aheadMs?: number): Promise<string> {
    for (let waits = 0; ;) {
      const row = await this.read();
      const plan = planRefresh(row, this.clock.nowMs(), aheadMs);
      if (plan.kind === 'use') return this.remember(row!);
      if (plan.notBefore > this.clock.nowMs()) {
        if (waits++ >= MAX_WAITS) throw this.tooSoon(plan.notBefore);
        await this.waitUntil(plan.notBefore);
        continue;
      }
      await this.prepare?.();
      const outcome = await this.db.transaction(async (): Promise<LoadOutcome> => {
        await this.repo.lock(this.key);
        // Whoever held the lock before us may have refreshed it already.
        const again = await this.read();
        const now = this.clock.nowMs();
        const replan = planRefresh(again, now, aheadMs);
        if (replan.kind === 'use') return { value: this.remember(again!) };
        if (replan.notBefore > now) return { wait: true };
        return this.fetchAndStore(again);
      });
      if ('value' in outcome) return outcome.value;
      if ('error' in outcome) throw outcome.error;
    }
  }

  /** One call to WeCom, and what it says stored for every instance. Runs under the lock. */
  private async fetchAndStore(previous: StoredCredential | null): Promise<LoadOutcome> {
    let fetched: FetchedCredential;
    let startedAt = this.clock.nowMs();
    try {
      fetched = await this.fetch();
    } catch (error) {
      // A failed call counts for the spacing too (WeCom throttles and bans by calls made); its
      // start is not known here, so the spacing runs from its end.
      const answered = error instanceof WeComApiError && error.errcode !== null;
      await this.recordFailedCall(previous, this.clock.nowMs(), answered ? null : startedAt);
      return { error };
    }
    startedAt = fetched.requestedAt ?? startedAt;
    // A token issued for a call whose answer we never saw may be the one we get now.
    const issuedFrom = Math.min(startedAt, previous?.unansweredAt ?? startedAt);
    const endedAt = this.clock.nowMs();
    const fp = fingerprint(fetched.value);
    const lifetimeMs = fetched.expiresInSeconds * 1000;
    // WeCom's clock started no earlier than our request and no later than its answer.
    let expiresAt = issuedFrom + lifetimeMs;
    let renewAt = endedAt + lifetimeMs;
    const same = previous !== null && previous.fingerprint === fp;
    if (same) {
      // The value we already hold: its expiry is never moved later, whatever `expires_in` says on
      // a repeat (remaining life, or the whole lifetime again). Before our bound has passed, it
      // stands. After it (taken for ended or refused), this answer proves only that the value was
      // still valid when we asked: stored as ending then, it goes to this load's callers alone,
      // and the next call (5 s on, as before) brings the new one. Our bound falls short of the
      // real end by as long as WeCom took to issue it after our earlier call left, at most that
      // call's round trip, so the real end can come within those 5 s: trusting it until then
      // overstated it.
      expiresAt = Math.min(expiresAt, Math.max(previous.expiresAt, startedAt));
      renewAt = Math.min(renewAt, previous.renewAt);
      if (previous.expiresAt > startedAt) this.earlyCallsPointless = true;
    }
    renewAt = Math.max(renewAt, expiresAt);
    await this.repo.store(this.key, {
      sealedValue: this.box.seal(fetched.value),
      fingerprint: fp,
      fetchedAt: new Date(startedAt),
      expiresAt: new Date(expiresAt),
      renewAt: new Date(renewAt),
    });
    const where = `${this.key.kind} for corp ${this.key.corpId} agent ${this.key.agentId} (${this.scope.slug})`;
    if (same && expiresAt <= endedAt) {
      this.logger.log(
        `WeCom returned the ${where} it gave before, past our estimate of its end (expires_in ${fetched.expiresInSeconds} s, not relied on); the next call is allowed in ${MIN_FETCH_INTERVAL_MS / 1000} s`,
      );
    } else if (same) {
      this.logger.log(
        `WeCom returned the ${where} it gave before (expires_in ${fetched.expiresInSeconds} s); it still ends in ${Math.round((expiresAt - endedAt) / 1000)} s`,
      );
    } else {
      this.logger.log(`Fetched a new ${where} (valid ${fetched.expiresInSeconds} s)`);
    }
    this.cache(fetched.value, expiresAt, renewAt);
    return { value: fetched.value };
  }

  private async recordFailedCall(
    previous: StoredCredential | null,
    at: number,
    unansweredSince: number | null,
  ): Promise<void> {
    const unansweredAt = previous?.unansweredAt ?? unansweredSince;
    try {
      await this.repo.recordFailedCall(
        this.key,
        new Date(at),
        unansweredAt === null ? null : new Date(unansweredAt),
        previous !== null,
      );
    } catch {
      // The transaction may be unusable after the failure (a database error): nothing to add.
    }
  }

  /** The stored row for the key; its value opened, or null when it cannot be. */
  private async read(): Promise<StoredCredential | null> {
    const row = await this.repo.find(this.key);
    if (!row) return null;
    let value: string | null = null;
    if (row.value !== '') {
      try {
        value = this.box.open(row.value);
      } catch (error) {
        // Sealed with a key we no longer hold: as good as absent, a fresh one replaces it.
        this.logger.warn(`Ignoring the stored ${this.key.kind}: ${(error as Error).message}`);
      }
    }
    return {
      value,
      fingerprint: row.valueFingerprint,
      expiresAt: row.expiresAt.getTime(),
      renewAt: row.renewAt.getTime(),
      fetchedAt: row.fetchedAt.getTime(),
      unansweredAt: row.unansweredAt?.getTime() ?? null,
    };
  }

  private remember(row: StoredCredential): string {
    this.cache(row.value!, row.expiresAt, row.renewAt);
    return row.value!;
  }

  private cache(value: string, expiresAt: number, renewAt: number): void {
    this.cached = { value, expiresAt, renewAt };
    if (this.autoRenew) {
      this.scheduleRenewal(renewAt - expiresAt <= MIN_FETCH_INTERVAL_MS ? renewAt : expiresAt);
    }
  }

  private scheduleRenewal(at: number): void {
    if (this.renewal?.at === at) return;
    this.cancelRenewal();
    // setTimeout holds at most 2^31-1 ms; a later renewal is re-armed when the value is read.
    const delay = Math.min(Math.max(0, at - this.clock.nowMs()), 2 ** 31 - 1);
    const renew = () => {
      this.renewal = undefined;
      this.get().catch((error: unknown) =>
        this.logger.warn(
          `Renewing the ${this.key.kind} of ${this.scope.slug} failed: ${(error as Error).message}`,
        ),
      );
    };
    let timer!: NodeJS.Timeout;
    detached(() => {
      timer = setTimeout(renew, delay);
    });
    timer.unref();
    this.renewal = { at, timer };
  }

  private cancelRenewal(): void {
    if (this.renewal) clearTimeout(this.renewal.timer);
    this.renewal = undefined;
  }

  /** Runs `work` in this credential's organisation (its rows, its lock). */
  private within<T>(work: () => T): T {
    return organizationScope.run(this.scope, work);
  }

  /** Waits by the injected clock, in short real sleeps, so a moved clock is noticed too. */
  private async waitUntil(at: number): Promise<void> {
    const realDeadline = performance.now() + Math.max(0, at - this.clock.nowMs()) + 250;
    while (this.clock.nowMs() < at && performance.now() < realDeadline) {
      await sleep(Math.min(250, Math.max(1, at - this.clock.nowMs())));
    }
  }

  private tooSoon(notBefore: number): WeComApiError {
    const ms = Math.max(0, notBefore - this.clock.nowMs());
    return new WeComApiError(
      PATHS[this.key.kind],
      null,
      `no usable ${this.key.kind}: the next call is allowed in ${ms} ms`,
      true,
    );
  }
}
