import { Logger } from '@nestjs/common';

import type { Clock } from '../../common/clock.js';
import { organizationScope, type OrganizationScope } from '../../common/organization-scope.js';
import type { RuntimeSettings } from '../../settings/runtime-settings.js';
import { WeComApiError } from '../client/wecom-api.error.js';
import type { WeComHttp } from '../client/wecom-http.js';
import {
  callerIpFromErrmsg,
  credentialsAdvice,
  CREDENTIALS_REJECTED_PAUSE_MS,
  GETTOKEN_PATH,
  isCredentialsRejected,
} from '../client/wecom-retry-policy.js';
import type { WeComSettings } from '../wecom-settings.js';
import { SharedCredentialCache, type CredentialStore } from './shared-credential-cache.js';

export type WeComStatus =
  | { status: 'ok'; tokenSecondsLeft: number | null; sandbox: boolean }
  | {
      status: 'misconfigured';
      errcode: number;
      sandbox: boolean;
      /** What the admin should configure, in plain words. */
      action: string;
      /** The address WeCom saw (from its errmsg), when it said. */
      fromIp: string | null;
      /** Messages wait until then (or an admin change of the configuration). */
      retryAt: string;
    }
  | { status: 'unreachable'; reason: string; sandbox: boolean }
  | { status: 'unknown'; sandbox: boolean };

/** What every organisation's token needs, the same for all of them. */
export interface AccessTokenDeps {
  http: WeComHttp;
  store: CredentialStore;
  settings: WeComSettings;
  runtime: RuntimeSettings;
  clock: Clock;
}

/**
 * What WeCom answers gettoken without a corp id (41002), said without asking it: an
 * organisation without a WeCom app has nothing to ask with. Messages wait for its admin.
 */
const NOT_CONFIGURED_ERRCODE = 41002;
const NOT_CONFIGURED_ACTION =
  'This organisation has no WeCom app yet: an admin sets corpId, agentId and corpSecret in /api/admin/config';

/**
 * One organisation's access token (AccessTokenProvider holds one per organisation): its shared
 * cache, keyed by the organisation's credentials, and what WeCom last said about them. A
 * refusal of this organisation's credentials pauses this organisation's calls only.
 */
export class OrganizationAccessToken {
  /** Under the provider's name: what operators grep for in the logs. */
  private readonly logger = new Logger('AccessTokenProvider');
  private cache?: SharedCredentialCache;
  /** Goes up with every change of credentials: a cache made from older ones is not kept. */
  private generation = 0;
  private autoRenew = false;
  private lastStatus: WeComStatus;
  private configErrorUntil = 0;
  private lastConfigError?: WeComApiError;

  constructor(
    readonly scope: OrganizationScope,
    private readonly deps: AccessTokenDeps,
  ) {
    this.lastStatus = { status: 'unknown', sandbox: deps.settings.sandbox };
  }

  async getToken(): Promise<string> {
    if (this.lastConfigError && this.deps.clock.nowMs() < this.configErrorUntil) {
      throw this.lastConfigError;
    }
    const cache = await this.credentialCache();
    const token = await cache.get();
    if (this.lastStatus.status !== 'ok') {
      this.setStatus({ status: 'ok', tokenSecondsLeft: null, sandbox: this.deps.settings.sandbox });
    }
    return token;
  }

  async invalidate(token: string): Promise<void> {
    await this.cache?.invalidate(token);
  }

  /** The cron: refresh when fewer than `marginSeconds` are left; false for an unconfigured app. */
  async refreshIfExpiring(marginSeconds: number): Promise<boolean> {
    if (this.lastConfigError && this.deps.clock.nowMs() < this.configErrorUntil) return false;
    try {
      const cache = await this.credentialCache();
      return await cache.refreshIfExpiring(marginSeconds);
    } catch (error) {
      if (error instanceof WeComApiError) return false; // already recorded in the status
      throw error;
    }
  }

  /**
   * New credentials are in force: the token of the old ones is not handed out again here, and
   * their refusal no longer holds messages back.
   */
  useCredentials({ corpId, agentId }: { corpId: string; agentId: number }): void {
    this.generation++;
    if (corpId === '') {
      this.cache?.stop();
      this.cache = undefined;
    } else {
      this.cache?.rekey({ kind: 'access_token', corpId, agentId });
    }
    this.lastConfigError = undefined;
    this.configErrorUntil = 0;
    this.lastStatus = { status: 'unknown', sandbox: this.deps.settings.sandbox };
  }

  /** Deletes the stored token of old credentials, so that no instance uses it again. */
  async dropStored({ corpId, agentId }: { corpId: string; agentId: number }): Promise<void> {
    if (corpId === '') return;
    const key = { kind: 'access_token' as const, corpId, agentId };
    if (this.cache) await this.cache.forget(key);
    else await this.detachedCache(key).forget(key);
  }

  /** Renews the token as soon as it ends, on this instance too (see SharedCredentialCache). */
  renewAtExpiry(enabled: boolean): void {
    this.autoRenew = enabled;
    this.cache?.renewAtExpiry(enabled);
  }

  stop(): void {
    this.autoRenew = false;
    this.cache?.stop();
  }

  status(): WeComStatus {
    if (this.lastStatus.status === 'ok') {
      return { ...this.lastStatus, tokenSecondsLeft: this.cache?.secondsLeft() ?? null };
    }
    return this.lastStatus;
  }

  /**
   * WeCom refused this organisation's credentials or settings (wrong secret at gettoken, or 60020
   * from an address outside the trusted IPs on any call): none of its calls gets a token for
   * CREDENTIALS_REJECTED_PAUSE_MS, so nothing hammers WeCom, and its status says what to fix.
   */
  reportRejected(error: WeComApiError): void {
    // The same error again is this pause's own (getToken rethrows it): it must not extend it.
    if (error.errcode === null || error === this.lastConfigError) return;
    const now = this.deps.clock.nowMs();
    this.lastConfigError = error;
    this.configErrorUntil = now + CREDENTIALS_REJECTED_PAUSE_MS;
    this.setStatus({
      status: 'misconfigured',
      errcode: error.errcode,
      sandbox: this.deps.settings.sandbox,
      action: credentialsAdvice(error.errcode, error.errmsg),
      fromIp: callerIpFromErrmsg(error.errmsg),
      retryAt: new Date(this.configErrorUntil).toISOString(),
    });
  }

  /** The cache for the credentials in force, made on first use from the organisation's settings. */
  private async credentialCache(): Promise<SharedCredentialCache> {
    for (;;) {
      if (this.cache) return this.cache;
      const generation = this.generation;
      const settings = await organizationScope.run(this.scope, () => this.deps.runtime.current());
      // New credentials arrived while we read: read again rather than keep the old ones.
      if (generation !== this.generation) continue;
      if (!settings.configured) throw this.notConfigured();
      this.cache ??= this.detachedCache({
        kind: 'access_token',
        corpId: settings.corpId,
        agentId: settings.agentId,
      });
      this.cache.renewAtExpiry(this.autoRenew);
    }
  }

  private detachedCache(key: { kind: 'access_token'; corpId: string; agentId: number }) {
    return new SharedCredentialCache(this.deps.store, this.scope, key, () => this.fetch());
  }

  private notConfigured(): WeComApiError {
    const error = new WeComApiError(
      GETTOKEN_PATH,
      NOT_CONFIGURED_ERRCODE,
      'corpid missing: the organisation has no WeCom app configured',
      false,
    );
    if (
      this.lastStatus.status !== 'misconfigured' ||
      this.lastStatus.errcode !== NOT_CONFIGURED_ERRCODE
    ) {
      this.logger.warn(`Organisation ${this.scope.slug} has no WeCom app yet; its messages wait`);
    }
    // Not through setStatus: WeCom refused nothing, it was not asked.
    this.lastStatus = {
      status: 'misconfigured',
      errcode: NOT_CONFIGURED_ERRCODE,
      sandbox: this.deps.settings.sandbox,
      action: NOT_CONFIGURED_ACTION,
      fromIp: null,
      retryAt: new Date(this.deps.clock.nowMs()).toISOString(),
    };
    return error;
  }

  /** gettoken with the organisation's credentials in force; runs under the cache's lock. */
  private async fetch() {
    const { runtime, settings, http, clock } = this.deps;
    // Another instance may have changed the credentials a moment ago: fetch with the new ones.
    await runtime.ensureFresh();
    const credentials = await settings.credentials();
    if (credentials.corpId === '') throw this.notConfigured();
    try {
      // One HTTP call per fetch: a retry is a new fetch, which keeps the 5-second spacing.
      const requestedAt = clock.nowMs();
      const res = await http.fetchAccessToken(credentials, { backoff: { maxRetries: 0 } });
      this.lastConfigError = undefined;
      this.setStatus({
        status: 'ok',
        tokenSecondsLeft: res.expires_in,
        sandbox: settings.sandbox,
      });
      return { value: res.access_token, expiresInSeconds: res.expires_in, requestedAt };
    } catch (error) {
      if (error instanceof WeComApiError) {
        if (isCredentialsRejected(error)) {
          this.reportRejected(error);
        } else {
          this.setStatus({
            status: 'unreachable',
            reason: error.errcode !== null ? `errcode ${error.errcode}` : error.errmsg,
            sandbox: settings.sandbox,
          });
        }
      }
      throw error;
    }
  }

  /** Logs a change of state once, not once per request. */
  private setStatus(next: WeComStatus): void {
    const key = (s: WeComStatus) => `${s.status}:${'errcode' in s ? s.errcode : ''}`;
    if (key(next) !== key(this.lastStatus)) {
      const of = `of organisation ${this.scope.slug}`;
      if (next.status === 'misconfigured') {
        this.logger.error(
          `WeCom refused the configuration ${of} (errcode ${next.errcode}): ${next.action}; messages wait`,
        );
      } else if (next.status === 'unreachable') {
        this.logger.warn(`WeCom gettoken failed (organisation ${this.scope.slug}): ${next.reason}`);
      } else if (next.status === 'ok' && this.lastStatus.status !== 'unknown') {
        this.logger.log(`WeCom gettoken works again for organisation ${this.scope.slug}`);
      }
    }
    this.lastStatus = next;
  }
}
