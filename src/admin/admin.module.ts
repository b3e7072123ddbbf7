import { Module } from '@nestjs/common';

import { WeComModule } from '../wecom/wecom.module.js';
import { AdminConfigController } from './admin-config.controller.js';
import { AdminConfigService } from './admin-config.service.js';

/** /api/admin: the runtime configuration, its audit trail, the WeCom connection check. */
@Module({
  imports: [WeComModule],
  controllers: [AdminConfigController],
  providers: [AdminConfigService],
})
export class AdminModule {}
