import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { SchedulerRegistry } from '@nestjs/schedule';

import { Clock } from '../../common/clock.js';
import { registerCronJob } from '../../common/scheduled-job.js';
import type { AppConfigService } from '../../config/app-config.js';
import { TransactionHost } from '../../database/transaction-host.js';
import { WeComApiError } from '../client/wecom-api.error.js';
import {
  callerIpFromErrmsg,
  credentialsAdvice,
  CREDENTIALS_REJECTED_PAUSE_MS,
  isCredentialsRejected,
} from '../client/wecom-retry-policy.js';
import type { TokenSource } from '../client/token-source.js';
import { WeComHttp } from '../client/wecom-http.js';
import { WeComSettings } from '../wecom-settings.js';
import { DEFAULT_ORGANIZATION } from '../../organizations/organization.js';
import { OrganizationsService } from '../../organizations/organizations.service.js';
import { RuntimeSettings } from '../../settings/runtime-settings.js';
import { SecretBox } from '../../settings/secret-box.js';
import { SharedCredentialCache } from './shared-credential-cache.js';
import { WeComCredentialsRepository } from './wecom-credentials.repository.js';

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

/**
 * The app's access token: stored in PostgreSQL and shared by every instance, fetched once per
 * refresh across all of them, and refetched once when WeCom says it is bad (40014/42001).
 * WeCom answers gettoken with the same token while it is valid, so the cron tries once ahead of
 * expiry (a WeCom that issues a new token per call gets one then) and otherwise the token is
 * renewed the moment the old one must have ended; gettoken calls stay 5 s apart cluster-wide
 * (SharedCredentialCache). It calls gettoken through WeComHttp, below WeComClient, which takes
 * its tokens from here (as its TokenSource). New credentials: WeComCredentialsService.
 */
@Injectable()
export class AccessTokenProvider
  implements TokenSource, OnModuleInit, OnApplicationBootstrap, OnModuleDestroy
{
  private readonly logger = new Logger(AccessTokenProvider.name);
  private readonly cache: SharedCredentialCache;
  private readonly marginSeconds: number;
  private lastStatus: WeComStatus;
  private configErrorUntil = 0;
  private lastConfigError?: WeComApiError;

  constructor(
    private readonly http: WeComHttp,
    repo: WeComCredentialsRepository,
    db: TransactionHost,
    private readonly settings: WeComSettings,
    private readonly clock: Clock,
    private readonly scheduler: SchedulerRegistry,
    @Inject(ConfigService) private readonly config: AppConfigService,
    box: SecretBox,
    private readonly runtime: RuntimeSettings,
    private readonly organizations: OrganizationsService,
  ) {
    const creds = settings.credentials();
    this.marginSeconds = config.get('WECOM_TOKEN_REFRESH_MARGIN_S', { infer: true });
    this.lastStatus = { status: 'unknown', sandbox: settings.sandbox };
    this.cache = new SharedCredentialCache(
      { repo, db, clock, box },
      { kind: 'access_token', corpId: creds.corpId, agentId: creds.agentId },
      () => this.fetch(),
    );
  }

  /**
   * New credentials are in force: the token of the old ones is not handed out again here, and
   * their refusal no longer holds messages back.
   */
  useCredentials({ corpId, agentId }: { corpId: string; agentId: number }): void {
    this.cache.rekey({ kind: 'access_token', corpId, agentId });
    this.lastConfigError = undefined;
    this.configErrorUntil = 0;
    this.lastStatus = { status: 'unknown', sandbox: this.settings.sandbox };
  }

  /** Deletes the stored token of old credentials, so that no instance uses it again. */
  async dropStored({ corpId, agentId }: { corpId: string; agentId: number }): Promise<void> {
    await this.cache.forget({ kind: 'access_token', corpId, agentId });
  }

  onModuleInit(): void {
    if (!this.config.get('CRON_ENABLED', { infer: true })) return;
    this.cache.renewAtExpiry(true);
    registerCronJob(
      this.scheduler,
      'wecom-token-refresh',
      this.config.get('WECOM_TOKEN_REFRESH_CRON', { infer: true }),
      () => this.organizations.within(DEFAULT_ORGANIZATION, () => this.refreshIfExpiring()),
    );
  }

  async getToken(): Promise<string> {
    if (this.lastConfigError && this.clock.nowMs() < this.configErrorUntil) {
      throw this.lastConfigError;
    }
    const token = await this.cache.get();
    if (this.lastStatus.status !== 'ok') {
      this.setStatus({ status: 'ok', tokenSecondsLeft: null, sandbox: this.settings.sandbox });
    }
    return token;
  }

  onModuleDestroy(): void {
    this.cache.stop();
  }

  /** Loads the token at start-up (from the database when one is stored) so /health knows. */
  onApplicationBootstrap(): void {
    this.organizations.within(DEFAULT_ORGANIZATION, () => this.getToken()).catch(() => undefined);
  }

  invalidate(token: string): Promise<void> {
    return this.cache.invalidate(token);
  }

  /** The cron body: refresh when fewer than WECOM_TOKEN_REFRESH_MARGIN_S seconds are left. */
  async refreshIfExpiring(): Promise<boolean> {
    try {
      return await this.cache.refreshIfExpiring(this.marginSeconds);
    } catch (error) {
      if (error instanceof WeComApiError) return false; // already recorded in the status
      throw error;
    }
  }

  status(): WeComStatus {
    if (this.lastStatus.status === 'ok') {
      return { ...this.lastStatus, tokenSecondsLeft: this.cache.secondsLeft() };
    }
    return this.lastStatus;
  }

  private async fetch() {
    // Another instance may have changed the credentials a moment ago: fetch with the new ones.
    await this.runtime.ensureFresh();
    try {
      // One HTTP call per fetch: a retry is a new fetch, which keeps the 5-second spacing.
      const requestedAt = this.clock.nowMs();
      const res = await this.http.fetchAccessToken(this.settings.credentials(), {
        backoff: { maxRetries: 0 },
      });
      this.lastConfigError = undefined;
      this.setStatus({
        status: 'ok',
        tokenSecondsLeft: res.expires_in,
        sandbox: this.settings.sandbox,
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
            sandbox: this.settings.sandbox,
          });
        }
      }
      throw error;
    }
  }

  /**
   * WeCom refused the deployment's credentials or settings (wrong secret at gettoken, or 60020
   * from an address outside the trusted IPs on any call): no call gets a token for
   * CREDENTIALS_REJECTED_PAUSE_MS, so nothing hammers WeCom, and /health says what to fix.
   */
  reportRejected(error: WeComApiError): void {
    // The same error again is this pause's own (getToken rethrows it): it must not extend it.
    if (error.errcode === null || error === this.lastConfigError) return;
    const now = this.clock.nowMs();
    this.lastConfigError = error;
    this.configErrorUntil = now + CREDENTIALS_REJECTED_PAUSE_MS;
    this.setStatus({
      status: 'misconfigured',
      errcode: error.errcode,
      sandbox: this.settings.sandbox,
      action: credentialsAdvice(error.errcode, error.errmsg),
      fromIp: callerIpFromErrmsg(error.errmsg),
      retryAt: new Date(this.configErrorUntil).toISOString(),
    });
  }

  /** Logs a change of state once, not once per request. */
  private setStatus(next: WeComStatus): void {
    const key = (s: WeComStatus) => `${s.status}:${'errcode' in s ? s.errcode : ''}`;
    if (key(next) !== key(this.lastStatus)) {
      if (next.status === 'misconfigured') {
        this.logger.error(
          `WeCom refused the configuration (errcode ${next.errcode}): ${next.action}; messages wait`,
        );
      } else if (next.status === 'unreachable') {
        this.logger.warn(`WeCom gettoken failed: ${next.reason}`);
      } else if (next.status === 'ok' && this.lastStatus.status !== 'unknown') {
        this.logger.log('WeCom gettoken works again');
      }
    }
    this.lastStatus = next;
  }
}
