import { Global, Logger, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { TypeOrmModule } from '@nestjs/typeorm';

import { Clock } from '../common/clock.js';
import type { AppConfigService } from '../config/app-config.js';
import { TransactionHost } from '../database/transaction-host.js';
import { AppSettingsEntity, ConfigAuditEntity } from './app-settings.entity.js';
import { ConfigAuditService } from './config-audit.service.js';
import { RuntimeSettings } from './runtime-settings.js';
import { SecretBox } from './secret-box.js';
import { SettingsRepository } from './settings.repository.js';

/**
 * The runtime configuration every module reads (and the SettingsChangedEvent it publishes), its
 * audit trail, and the box its secrets are sealed with.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([AppSettingsEntity, ConfigAuditEntity])],
  providers: [
    SettingsRepository,
    ConfigAuditService,
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
      inject: [SettingsRepository, TransactionHost, SecretBox, Clock, EventEmitter2, ConfigService],
      useFactory: (
        repo: SettingsRepository,
        db: TransactionHost,
        box: SecretBox,
        clock: Clock,
        events: EventEmitter2,
        config: AppConfigService,
      ) => RuntimeSettings.create({ repo, db, box, clock, events }, config),
    },
  ],
  exports: [SecretBox, RuntimeSettings, ConfigAuditService],
})
export class SettingsModule {}
