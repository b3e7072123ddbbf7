import { Global, Module } from '@nestjs/common';

import { MessagingModule } from '../messaging/messaging.module.js';
import { WeComModule } from '../wecom/wecom.module.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';

@Global()
@Module({ providers: [MetricsService], exports: [MetricsService] })
export class MetricsModule {}

/**
 * The scrape endpoint; separate because it reads the token state from WeComModule and the
 * outbox backlog from MessagingModule.
 */
@Module({ imports: [WeComModule, MessagingModule], controllers: [MetricsController] })
export class MetricsEndpointModule {}
