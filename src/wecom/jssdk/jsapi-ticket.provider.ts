import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { Clock } from '../../common/clock.js';
import { registerCronJob } from '../../common/scheduled-job.js';
import type { AppConfigService } from '../../config/app-config.js';
import { WeComClient } from '../client/wecom.client.js';
import { SharedCredentialCache } from '../token/shared-credential-cache.js';
import { WeComSettings } from '../wecom-settings.js';

/**
 * The two JS-SDK tickets (corp: wx.config, app: wx.agentConfig), cached like the access token:
 * in PostgreSQL, one fetch per refresh across all instances (WeCom allows 400 corp and 100 app
 * tickets an hour), refreshed ahead of expiry by cron once this instance has used them.
 */
@Injectable()
export class JsapiTicketProvider implements OnModuleInit {
  private readonly logger = new Logger(JsapiTicketProvider.name);
  private readonly corp: SharedCredentialCache;
  private readonly agent: SharedCredentialCache;
  private readonly marginSeconds: number;

  constructor(
    @InjectDataSource() dataSource: DataSource,
    client: WeComClient,
    settings: WeComSettings,
    clock: Clock,
    private readonly scheduler: SchedulerRegistry,
    @Inject(ConfigService) private readonly config: AppConfigService,
  ) {
    const { corpId, agentId } = settings.credentials();
    this.marginSeconds = config.get('WECOM_TOKEN_REFRESH_MARGIN_S', { infer: true });
    this.corp = new SharedCredentialCache(
      dataSource,
      clock,
      { kind: 'jsapi_corp_ticket', corpId, agentId },
      async () => {
        const res = await client.getCorpJsapiTicket();
        return { value: res.ticket, expiresInSeconds: res.expires_in };
      },
    );
    this.agent = new SharedCredentialCache(
      dataSource,
      clock,
      { kind: 'jsapi_agent_ticket', corpId, agentId },
      async () => {
        const res = await client.getAgentJsapiTicket();
        return { value: res.ticket, expiresInSeconds: res.expires_in };
      },
    );
  }

  onModuleInit(): void {
    if (!this.config.get('CRON_ENABLED', { infer: true })) return;
    registerCronJob(
      this.scheduler,
      'wecom-jsapi-ticket-refresh',
      this.config.get('WECOM_TOKEN_REFRESH_CRON', { infer: true }),
      () => this.refreshIfExpiring(),
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
