import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { UserMappingsModule } from '../user-mappings/user-mappings.module.js';
import { WeComModule } from '../wecom/wecom.module.js';
import { OAuthStateEntity } from './oauth-state.entity.js';
import { OAuthStateService } from './oauth-state.service.js';
import { OAuthStatesRepository } from './oauth-states.repository.js';
import { SignInController } from './sign-in.controller.js';
import { SignInService } from './sign-in.service.js';

/**
 * Sign-in with WeCom (/auth/wecom/*). It depends on WeCom (the client) and on user mappings
 * (who a member is on the platform); neither depends on it.
 */
@Module({
  imports: [TypeOrmModule.forFeature([OAuthStateEntity]), WeComModule, UserMappingsModule],
  controllers: [SignInController],
  providers: [OAuthStatesRepository, OAuthStateService, SignInService],
})
export class SignInModule {}
