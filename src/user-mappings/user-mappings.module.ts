import { Module } from '@nestjs/common';

import { WeComModule } from '../wecom/wecom.module.js';
import { MappingContactSync } from './mapping-contact-sync.js';
import { UserMappingsController } from './user-mappings.controller.js';
import { UserMappingsService } from './user-mappings.service.js';

@Module({
  imports: [WeComModule],
  controllers: [UserMappingsController],
  providers: [UserMappingsService, MappingContactSync],
  exports: [UserMappingsService],
})
export class UserMappingsModule {}
