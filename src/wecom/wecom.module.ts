import { HttpModule } from '@nestjs/axios';
import { Module, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

import type { AppConfigService } from '../config/app-config.js';
import { HealthModule } from '../health/health.module.js';
import { HealthService } from '../health/health.service.js';
import { WeComClient } from './client/wecom.client.js';
import { AccessTokenProvider } from './token/access-token.provider.js';
import { WeComSettings } from './wecom-settings.js';

@Module({
  imports: [HttpModule, HealthModule],
  providers: [
    {
      provide: WeComSettings,
      inject: [ConfigService],
      useFactory: (config: AppConfigService) => WeComSettings.create(config),
    },
    WeComClient,
    AccessTokenProvider,
  ],
  exports: [WeComSettings, WeComClient, AccessTokenProvider],
})
export class WeComModule implements OnModuleInit {
  constructor(
    private readonly health: HealthService,
    private readonly tokens: AccessTokenProvider,
  ) {}

  onModuleInit(): void {
    this.health.register({ name: 'wecom', check: async () => this.tokens.status() });
  }
}
