import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { UserMappingsModule } from '../../user-mappings/user-mappings.module.js';
import { WeComModule } from '../wecom.module.js';
import { OAuthStateEntity } from './oauth-state.entity.js';
import { OAuthStateService } from './oauth-state.service.js';
import { WeComSignInController } from './wecom-signin.controller.js';
import { WeComSignInService } from './wecom-signin.service.js';

/** Its own module: it needs UserMappingsModule, which itself imports WeComModule. */
@Module({
  imports: [TypeOrmModule.forFeature([OAuthStateEntity]), WeComModule, UserMappingsModule],
  controllers: [WeComSignInController],
  providers: [OAuthStateService, WeComSignInService],
})
export class WeComSignInModule {}
