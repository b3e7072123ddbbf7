import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { SchedulerRegistry } from '@nestjs/schedule';

import { Clock } from '../../common/clock.js';
import { registerCronJob } from '../../common/scheduled-job.js';
import type { AppConfigService } from '../../config/app-config.js';
import { TransactionHost } from '../../database/transaction-host.js';
import { WeComClient } from '../client/wecom.client.js';
import { SecretBox } from '../../settings/secret-box.js';
import { AccessTokenProvider } from '../token/access-token.provider.js';
import { SharedCredentialCache } from '../token/shared-credential-cache.js';
import { WeComCredentialsRepository } from '../token/wecom-credentials.repository.js';
import { WeComSettings } from '../wecom-settings.js';
import { DEFAULT_ORGANIZATION } from '../../organizations/organization.js';
import { OrganizationsService } from '../../organizations/organizations.service.js';

/**
 * The two JS-SDK tickets (corp: wx.config, app: wx.agentConfig), cached like the access token:
 * in PostgreSQL, one fetch per refresh across all instances (WeCom allows 400 corp and 100 app
 * tickets an hour), refreshed ahead of expiry by cron once this instance has used them.
 * New credentials: WeComCredentialsService.
 */
@Injectable()
export class JsapiTicketProvider implements OnModuleInit {
  private readonly logger = new Logger(JsapiTicketProvider.name);
  private readonly corp: SharedCredentialCache;
  private readonly agent: SharedCredentialCache;
  private readonly marginSeconds: number;

  constructor(
    repo: WeComCredentialsRepository,
    db: TransactionHost,
    client: WeComClient,
    settings: WeComSettings,
    clock: Clock,
    private readonly scheduler: SchedulerRegistry,
    @Inject(ConfigService) private readonly config: AppConfigService,
    box: SecretBox,
    tokens: AccessTokenProvider,
    private readonly organizations: OrganizationsService,
  ) {
    const store = { repo, db, clock, box };
    const warmToken = () => tokens.getToken();
    const { corpId, agentId } = settings.credentials();
    this.marginSeconds = config.get('WECOM_TOKEN_REFRESH_MARGIN_S', { infer: true });
    this.corp = new SharedCredentialCache(
      store,
      { kind: 'jsapi_corp_ticket', corpId, agentId },
      async () => {
        const res = await client.getCorpJsapiTicket();
        return { value: res.ticket, expiresInSeconds: res.expires_in };
      },
      warmToken,
    );
    this.agent = new SharedCredentialCache(
      store,
      { kind: 'jsapi_agent_ticket', corpId, agentId },
      async () => {
        const res = await client.getAgentJsapiTicket();
        return { value: res.ticket, expiresInSeconds: res.expires_in };
      },
      warmToken,
    );
  }

  /** New credentials are in force: tickets of the old token are no longer ours to hand out. */
  useCredentials({ corpId, agentId }: { corpId: string; agentId: number }): void {
    this.corp.rekey({ kind: 'jsapi_corp_ticket', corpId, agentId });
    this.agent.rekey({ kind: 'jsapi_agent_ticket', corpId, agentId });
  }

  /** Deletes the stored tickets of old credentials, so that no instance uses them again. */
  async dropStored({ corpId, agentId }: { corpId: string; agentId: number }): Promise<void> {
    await this.corp.forget({ kind: 'jsapi_corp_ticket', corpId, agentId });
    await this.agent.forget({ kind: 'jsapi_agent_ticket', corpId, agentId });
  }

  onModuleInit(): void {
    if (!this.config.get('CRON_ENABLED', { infer: true })) return;
    registerCronJob(
      this.scheduler,
      'wecom-jsapi-ticket-refresh',
      this.config.get('WECOM_TOKEN_REFRESH_CRON', { infer: true }),
      () => this.organizations.within(DEFAULT_ORGANIZATION, () => this.refreshIfExpiring()),
    );
  }

  corpTicket(): Promise<string> {
    return this.corp.get();
  }

  agentTicket(): Promise<string> {
    return this.agent.get();
  }

  /**
   * The cron body. A ticket nobody on this instance asked for yet is left alone, so an
   * installation that never uses the JS-SDK never spends its ticket quota.
   */
  async refreshIfExpiring(): Promise<number> {
    let refreshed = 0;
    for (const cache of [this.corp, this.agent]) {
      if (cache.secondsLeft() === null) continue;
      if (await cache.refreshIfExpiring(this.marginSeconds)) refreshed++;
    }
    if (refreshed > 0) this.logger.debug(`Refreshed ${refreshed} JS-SDK ticket(s)`);
    return refreshed;
  }
}
