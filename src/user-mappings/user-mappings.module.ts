import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { WeComModule } from '../wecom/wecom.module.js';
import { MappingContactSync } from './mapping-contact-sync.js';
import { UserMappingEntity } from './user-mapping.entity.js';
import { UserMappingsController } from './user-mappings.controller.js';
import { UserMappingsRepository } from './user-mappings.repository.js';
import { UserMappingsService } from './user-mappings.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([UserMappingEntity]), WeComModule],
  controllers: [UserMappingsController],
  providers: [UserMappingsService, UserMappingsRepository, MappingContactSync],
  exports: [UserMappingsService],
})
export class UserMappingsModule {}
