import { HttpModule } from '@nestjs/axios';
import { Module, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';

import type { AppConfigService } from '../config/app-config.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import { RuntimeSettings } from '../settings/runtime-settings.js';
import { HealthModule } from '../health/health.module.js';
import { HealthService } from '../health/health.service.js';
import { WeComCallbackController } from './callback/wecom-callback.controller.js';
import { WeComCallbackService } from './callback/wecom-callback.service.js';
import { WeComCardUpdater } from './callback/wecom-card-updater.js';
import { WeComEventEntity } from './callback/wecom-event.entity.js';
import { WeComEventHandlers } from './callback/wecom-event-handlers.js';
import { WeComEventsRepository } from './callback/wecom-events.repository.js';
import { TokenSource } from './client/token-source.js';
import { WeComHttp } from './client/wecom-http.js';
import { WeComClient } from './client/wecom.client.js';
import { JsapiTicketProvider } from './jssdk/jsapi-ticket.provider.js';
import { JssdkController } from './jssdk/jssdk.controller.js';
import { JssdkService } from './jssdk/jssdk.service.js';
import { SandboxCallbackSecrets } from './sandbox-callback-secrets.js';
import { AccessTokenProvider } from './token/access-token.provider.js';
import { WeComCredentialEntity } from './token/wecom-credential.entity.js';
import { WeComCredentialsRepository } from './token/wecom-credentials.repository.js';
import { WeComCredentialsService } from './wecom-credentials.service.js';
import { WeComSettings } from './wecom-settings.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([WeComCredentialEntity, WeComEventEntity]),
    HttpModule,
    HealthModule,
  ],
  controllers: [WeComCallbackController, JssdkController],
  providers: [
    {
      provide: SandboxCallbackSecrets,
      inject: [ConfigService, RuntimeSettings],
      // `default`'s: the sandbox's app is the default organisation's (ensure sets the scope).
      useFactory: (config: AppConfigService, runtime: RuntimeSettings) =>
        SandboxCallbackSecrets.ensure(config, runtime),
    },
    {
      provide: WeComSettings,
      // After the sandbox's callback secrets: what talks to WeCom is built with them in place
      // (a settings change at start-up would otherwise reach its listeners).
      inject: [ConfigService, RuntimeSettings, SandboxCallbackSecrets],
      useFactory: (config: AppConfigService, runtime: RuntimeSettings) =>
        WeComSettings.create(config, runtime),
    },
    WeComHttp,
    WeComClient,
    WeComCredentialsRepository,
    AccessTokenProvider,
    // WeComClient's tokens: the provider, which itself calls gettoken through WeComHttp.
    { provide: TokenSource, useExisting: AccessTokenProvider },
    WeComCredentialsService,
    WeComEventHandlers,
    WeComEventsRepository,
    WeComCallbackService,
    WeComCardUpdater,
    JsapiTicketProvider,
    JssdkService,
  ],
  exports: [
    WeComSettings,
    WeComClient,
    AccessTokenProvider,
    JsapiTicketProvider,
    WeComEventHandlers,
    WeComCardUpdater,
  ],
})
export class WeComModule implements OnModuleInit {
  constructor(
    private readonly health: HealthService,
    private readonly tokens: AccessTokenProvider,
  ) {}

  onModuleInit(): void {
    // The deployment's own app (the environment's, or the sandbox): /health names no other
    // organisation; each one's admins see theirs in /api/admin/config.
    this.health.register({
      name: 'wecom',
      check: async () => this.tokens.statusOf(DEFAULT_ORGANIZATION.id),
    });
  }
}
