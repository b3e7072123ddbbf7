import { Global, Logger, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { Clock } from '../common/clock.js';
import type { AppConfigService } from '../config/app-config.js';
import { AppSettingsEntity, ConfigAuditEntity } from './app-settings.entity.js';
import { RuntimeSettings } from './runtime-settings.js';
import { SecretBox } from './secret-box.js';

/** The runtime configuration every module reads, and the box its secrets are sealed with. */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([AppSettingsEntity, ConfigAuditEntity])],
  providers: [
    {
      provide: SecretBox,
      inject: [ConfigService],
      useFactory: (config: AppConfigService) => {
        const { box, development } = SecretBox.fromEnv({
          APP_ENCRYPTION_KEY: config.get('APP_ENCRYPTION_KEY', { infer: true }),
          APP_ENCRYPTION_OLD_KEYS: config.get('APP_ENCRYPTION_OLD_KEYS', { infer: true }),
        });
        if (development && config.get('NODE_ENV', { infer: true }) === 'development') {
          new Logger('SecretBox').warn(
            'APP_ENCRYPTION_KEY is unset: stored secrets are sealed with the built-in development key (production refuses to start without one)',
          );
        }
        return box;
      },
    },
    {
      provide: RuntimeSettings,
      inject: [getDataSourceToken(), SecretBox, Clock, ConfigService],
      useFactory: (
        dataSource: DataSource,
        box: SecretBox,
        clock: Clock,
        config: AppConfigService,
      ) => RuntimeSettings.create(dataSource, box, clock, config),
    },
  ],
  exports: [SecretBox, RuntimeSettings],
})
export class SettingsModule {}
