import { type DynamicModule, Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ScheduleModule } from '@nestjs/schedule';

import { AdminModule } from './admin/admin.module.js';
import { AuthModule } from './auth/auth.module.js';
import { ClockModule } from './common/clock.module.js';
import { configModuleFor } from './config/app-config.js';
import type { EnvironmentVariables } from './config/env.validation.js';
import { DatabaseModule } from './database/database.module.js';
import { HealthModule } from './health/health.module.js';
import { MetricsEndpointModule, MetricsModule } from './metrics/metrics.module.js';
import { InterviewsModule } from './interviews/interviews.module.js';
import { MessagingModule } from './messaging/messaging.module.js';
import { OrganizationsModule } from './organizations/organizations.module.js';
import { SettingsModule } from './settings/settings.module.js';
import { SignInModule } from './sign-in/sign-in.module.js';
import { UserMappingsModule } from './user-mappings/user-mappings.module.js';
import { WeComModule } from './wecom/wecom.module.js';

@Module({})
export class AppModule {
  /**
   * `env` is validated before the module is built (main.ts, or a spec with its own values), and
   * the ConfigService reads only it: no .env or process.env lookups behind its back, so specs
   * that boot several apps with different settings do not leak into each other.
   */
  static forRoot(env: EnvironmentVariables): DynamicModule {
    return {
      module: AppModule,
      imports: [
        configModuleFor(env),
        ScheduleModule.forRoot(),
        // Modules tell each other what happened (a message settled, credentials changed) through
        // typed events rather than by importing each other's services.
        EventEmitterModule.forRoot(),
        ClockModule,
        MetricsModule,
        MetricsEndpointModule,
        DatabaseModule,
        OrganizationsModule,
        SettingsModule,
        AuthModule,
        HealthModule,
        WeComModule,
        SignInModule,
        UserMappingsModule,
        MessagingModule,
        InterviewsModule,
        AdminModule,
      ],
    };
  }
}
