import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { SchedulerRegistry } from '@nestjs/schedule';

import { Clock } from '../../common/clock.js';
import {
  organizationScope,
  requireOrganizationScope,
  type OrganizationScope,
} from '../../common/organization-scope.js';
import { registerCronJob } from '../../common/scheduled-job.js';
import type { AppConfigService } from '../../config/app-config.js';
import { TransactionHost } from '../../database/transaction-host.js';
import { OrganizationsService } from '../../organizations/organizations.service.js';
import { RuntimeSettings } from '../../settings/runtime-settings.js';
import { SecretBox } from '../../settings/secret-box.js';
import { WeComClient } from '../client/wecom.client.js';
import { AccessTokenProvider } from '../token/access-token.provider.js';
import {
  SharedCredentialCache,
  type CredentialStore,
  type FetchedCredential,
} from '../token/shared-credential-cache.js';
import type { WeComCredentialKind } from '../token/wecom-credential.entity.js';
import { WeComCredentialsRepository } from '../token/wecom-credentials.repository.js';

type TicketKind = Extract<WeComCredentialKind, 'jsapi_corp_ticket' | 'jsapi_agent_ticket'>;

interface AppKey {
  corpId: string;
  agentId: number;
}

/** One organisation's two tickets, keyed by its WeCom app; made on its first use here. */
class OrganizationTickets {
  private caches?: Record<TicketKind, SharedCredentialCache>;
  /** Goes up with every change of credentials: caches made from older ones are not kept. */
  private generation = 0;

  constructor(
    readonly scope: OrganizationScope,
    private readonly make: (
      scope: OrganizationScope,
      kind: TicketKind,
      app: AppKey,
    ) => SharedCredentialCache,
    private readonly runtime: RuntimeSettings,
  ) {}

  async get(kind: TicketKind): Promise<string> {
    return (await this.ofApp())[kind].get();
  }

  /** The caches this instance has used, for the cron. */
  used(): SharedCredentialCache[] {
    return this.caches ? Object.values(this.caches).filter((c) => c.secondsLeft() !== null) : [];
  }

  useCredentials({ corpId, agentId }: AppKey): void {
    this.generation++;
    if (!this.caches) return;
    for (const [kind, cache] of Object.entries(this.caches)) {
      cache.rekey({ kind: kind as TicketKind, corpId, agentId });
    }
  }

  async dropStored({ corpId, agentId }: AppKey): Promise<void> {
    if (corpId === '') return;
    for (const kind of ['jsapi_corp_ticket', 'jsapi_agent_ticket'] as const) {
      const key = { kind, corpId, agentId };
      await (this.caches?.[kind] ?? this.make(this.scope, kind, { corpId, agentId })).forget(key);
    }
  }

  private async ofApp(): Promise<Record<TicketKind, SharedCredentialCache>> {
    for (;;) {
      if (this.caches) return this.caches;
      const generation = this.generation;
      const { corpId, agentId } = await organizationScope.run(this.scope, () =>
        this.runtime.current(),
      );
      if (generation !== this.generation) continue;
      this.caches ??= {
        jsapi_corp_ticket: this.make(this.scope, 'jsapi_corp_ticket', { corpId, agentId }),
        jsapi_agent_ticket: this.make(this.scope, 'jsapi_agent_ticket', { corpId, agentId }),
      };
    }
  }
}

/**
 * Each organisation's two JS-SDK tickets (corp: wx.config, app: wx.agentConfig), cached like its
 * access token: in PostgreSQL, one fetch per refresh per organisation across all instances
 * (WeCom allows 400 corp and 100 app tickets an hour), refreshed ahead of expiry by cron once
 * this instance has used them. Whose tickets is the scope's, as for the token. New credentials:
 * WeComCredentialsService.
 */
@Injectable()
export class JsapiTicketProvider implements OnModuleInit {
  private readonly logger = new Logger(JsapiTicketProvider.name);
  private readonly organizations = new Map<string, OrganizationTickets>();
  private readonly marginSeconds: number;
  private readonly store: CredentialStore;

  constructor(
    repo: WeComCredentialsRepository,
    db: TransactionHost,
    private readonly client: WeComClient,
    clock: Clock,
    private readonly scheduler: SchedulerRegistry,
    @Inject(ConfigService) private readonly config: AppConfigService,
    box: SecretBox,
    private readonly tokens: AccessTokenProvider,
    private readonly runtime: RuntimeSettings,
    private readonly directory: OrganizationsService,
  ) {
    this.store = { repo, db, clock, box };
    this.marginSeconds = config.get('WECOM_TOKEN_REFRESH_MARGIN_S', { infer: true });
  }

  /** The scope's new credentials are in force: tickets of its old token are no longer handed out. */
  useCredentials(app: AppKey): void {
    this.ofScope().useCredentials(app);
  }

  /** Deletes the scope's stored tickets of old credentials, so that no instance uses them again. */
  async dropStored(app: AppKey): Promise<void> {
    await this.ofScope().dropStored(app);
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

  async corpTicket(): Promise<string> {
    return this.ofScope().get('jsapi_corp_ticket');
  }

  async agentTicket(): Promise<string> {
    return this.ofScope().get('jsapi_agent_ticket');
  }

  /**
   * The cron body, over every active organisation. A ticket nobody on this instance asked for
   * yet is left alone, so an organisation that never uses the JS-SDK never spends its ticket
   * quota, nor does a suspended one; one organisation's failure does not stop the others.
   */
  async refreshIfExpiring(): Promise<number> {
    let refreshed = 0;
    const active = new Set((await this.directory.active()).map((o) => o.id));
    for (const tickets of this.organizations.values()) {
      if (!active.has(tickets.scope.id)) continue;
      for (const cache of tickets.used()) {
        try {
          if (await cache.refreshIfExpiring(this.marginSeconds)) refreshed++;
        } catch (error) {
          this.logger.warn(
            `Refreshing a JS-SDK ticket of ${tickets.scope.slug} failed: ${(error as Error).message}`,
          );
        }
      }
    }
    if (refreshed > 0) this.logger.debug(`Refreshed ${refreshed} JS-SDK ticket(s)`);
    return refreshed;
  }

  private ofScope(): OrganizationTickets {
    const scope = requireOrganizationScope('JsapiTicketProvider');
    let tickets = this.organizations.get(scope.id);
    if (!tickets) {
      tickets = new OrganizationTickets(
        scope,
        (s, kind, app) => this.cache(s, kind, app),
        this.runtime,
      );
      this.organizations.set(scope.id, tickets);
    }
    return tickets;
  }

  private cache(scope: OrganizationScope, kind: TicketKind, app: AppKey): SharedCredentialCache {
    const fetch = async (): Promise<FetchedCredential> => {
      const res =
        kind === 'jsapi_corp_ticket'
          ? await this.client.getCorpJsapiTicket()
          : await this.client.getAgentJsapiTicket();
      return { value: res.ticket, expiresInSeconds: res.expires_in };
    };
    // The token is loaded before the ticket's lock is taken (SharedCredentialCache's prepare).
    const warmToken = () => this.tokens.getToken();
    return new SharedCredentialCache(this.store, scope, { kind, ...app }, fetch, warmToken);
  }
}
