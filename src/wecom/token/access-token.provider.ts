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
import { organizationScope, requireOrganizationScope } from '../../common/organization-scope.js';
import { registerCronJob } from '../../common/scheduled-job.js';
import type { AppConfigService } from '../../config/app-config.js';
import { TransactionHost } from '../../database/transaction-host.js';
import { DEFAULT_ORGANIZATION, scopeOf } from '../../organizations/organization.js';
import { OrganizationsService } from '../../organizations/organizations.service.js';
import { RuntimeSettings } from '../../settings/runtime-settings.js';
import { SecretBox } from '../../settings/secret-box.js';
import type { WeComApiError } from '../client/wecom-api.error.js';
import type { TokenSource } from '../client/token-source.js';
import { WeComHttp } from '../client/wecom-http.js';
import { WeComSettings } from '../wecom-settings.js';
import {
  OrganizationAccessToken,
  type AccessTokenDeps,
  type WeComStatus,
} from './organization-access-token.js';
import { WeComCredentialsRepository } from './wecom-credentials.repository.js';

export type { WeComStatus } from './organization-access-token.js';

/**
 * Each organisation's access token: stored in PostgreSQL and shared by every instance, fetched
 * once per refresh per organisation across all of them, and refetched once when WeCom says it is
 * bad (40014/42001). WeCom answers gettoken with the same token while it is valid, so the cron
 * tries once ahead of expiry (a WeCom that issues a new token per call gets one then) and
 * otherwise the token is renewed the moment the old one must have ended; gettoken calls stay 5 s
 * apart cluster-wide (SharedCredentialCache). It calls gettoken through WeComHttp, below
 * WeComClient, which takes its tokens from here (as its TokenSource). New credentials:
 * WeComCredentialsService.
 *
 * Which organisation's token is never an argument: it is the scope's (organizationScope), the
 * same scope that picks the rows a call reads and the settings its body is built from, so a call
 * cannot carry one organisation's data with another's token. No scope is an error.
 */
@Injectable()
export class AccessTokenProvider
  implements TokenSource, OnModuleInit, OnApplicationBootstrap, OnModuleDestroy
{
  private readonly logger = new Logger(AccessTokenProvider.name);
  /** By organisation id, made on first use. */
  private readonly tokens = new Map<string, OrganizationAccessToken>();
  private readonly deps: AccessTokenDeps;
  private readonly marginSeconds: number;
  private autoRenew = false;

  constructor(
    http: WeComHttp,
    repo: WeComCredentialsRepository,
    db: TransactionHost,
    private readonly settings: WeComSettings,
    clock: Clock,
    private readonly scheduler: SchedulerRegistry,
    @Inject(ConfigService) private readonly config: AppConfigService,
    box: SecretBox,
    runtime: RuntimeSettings,
    private readonly organizations: OrganizationsService,
  ) {
    this.marginSeconds = config.get('WECOM_TOKEN_REFRESH_MARGIN_S', { infer: true });
    this.deps = { http, store: { repo, db, clock, box }, settings, runtime, clock };
  }

  onModuleInit(): void {
    if (!this.config.get('CRON_ENABLED', { infer: true })) return;
    this.autoRenew = true;
    for (const token of this.tokens.values()) token.renewAtExpiry(true);
    registerCronJob(
      this.scheduler,
      'wecom-token-refresh',
      this.config.get('WECOM_TOKEN_REFRESH_CRON', { infer: true }),
      () => this.refreshActiveOrganizations(),
    );
  }

  /** Loads `default`'s token at start-up (from the database when one is stored) so /health knows. */
  onApplicationBootstrap(): void {
    organizationScope.run(DEFAULT_ORGANIZATION, () => this.getToken()).catch(() => undefined);
  }

  onModuleDestroy(): void {
    for (const token of this.tokens.values()) token.stop();
  }

  /** The token of the organisation in scope. */
  async getToken(): Promise<string> {
    return this.ofScope().getToken();
  }

  /** WeCom called the scope's token bad: one refetch, however many callers saw it. */
  async invalidate(token: string): Promise<void> {
    return this.ofScope().invalidate(token);
  }

  /** WeCom refused the scope's credentials or settings: its calls pause (see the class). */
  reportRejected(error: WeComApiError): void {
    this.ofScope().reportRejected(error);
  }

  /** The scope's new credentials are in force: the old token is not handed out here again. */
  useCredentials(credentials: { corpId: string; agentId: number }): void {
    this.ofScope().useCredentials(credentials);
  }

  /** Deletes the scope's stored token of old credentials, so that no instance uses it again. */
  async dropStored(credentials: { corpId: string; agentId: number }): Promise<void> {
    return this.ofScope().dropStored(credentials);
  }

  /** The scope's token: refreshed when fewer than WECOM_TOKEN_REFRESH_MARGIN_S seconds are left. */
  async refreshIfExpiring(): Promise<boolean> {
    return this.ofScope().refreshIfExpiring(this.marginSeconds);
  }

  /**
   * The cron body: every active organisation's token, one organisation after the other, each in
   * its own scope; one organisation's failure does not stop the others. The lock and the stored
   * row make it one gettoken per organisation across instances. The number refreshed.
   */
  async refreshActiveOrganizations(): Promise<number> {
    let refreshed = 0;
    for (const organization of await this.organizations.active()) {
      try {
        const scope = scopeOf(organization);
        if (await organizationScope.run(scope, () => this.refreshIfExpiring())) refreshed++;
      } catch (error) {
        this.logger.warn(
          `Refreshing the token of ${organization.slug} failed: ${(error as Error).message}`,
        );
      }
    }
    return refreshed;
  }

  /** The scope's token status, for its admins. */
  status(): WeComStatus {
    return this.ofScope().status();
  }

  /** An organisation's token status by id, for /health and /metrics (which have no scope). */
  statusOf(organizationId: string): WeComStatus {
    return (
      this.tokens.get(organizationId)?.status() ?? {
        status: 'unknown',
        sandbox: this.settings.sandbox,
      }
    );
  }

  private ofScope(): OrganizationAccessToken {
    const scope = requireOrganizationScope('AccessTokenProvider');
    let token = this.tokens.get(scope.id);
    if (!token) {
      token = new OrganizationAccessToken(scope, this.deps);
      token.renewAtExpiry(this.autoRenew);
      this.tokens.set(scope.id, token);
    }
    return token;
  }
}
