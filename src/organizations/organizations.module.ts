import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';

import { OrganizationScopeInterceptor } from './organization-scope.interceptor.js';
import { OrganizationEntity } from './organization.entity.js';
import { OrganizationsRepository } from './organizations.repository.js';
import { OrganizationsService } from './organizations.service.js';

/**
 * The companies one deployment serves (docs/design/organisations.md). Global: requests, the
 * dispatcher, the reminder scheduler and callbacks all resolve their organisation here.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([OrganizationEntity])],
  providers: [
    OrganizationsRepository,
    OrganizationsService,
    { provide: APP_INTERCEPTOR, useClass: OrganizationScopeInterceptor },
  ],
  exports: [OrganizationsService],
})
export class OrganizationsModule {}
