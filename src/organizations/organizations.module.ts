import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';

import { OrganizationOperations } from './organization-operations.service.js';
import { OrganizationScopeInterceptor } from './organization-scope.interceptor.js';
import { OrganizationEntity } from './organization.entity.js';
import { OrganizationsController } from './organizations.controller.js';
import { OrganizationsRepository } from './organizations.repository.js';
import { OrganizationsService } from './organizations.service.js';
import { OwnOrganizationController } from './own-organization.controller.js';

/**
 * The companies one deployment serves (docs/design/organisations.md). Global: requests, the
 * dispatcher, the reminder scheduler and callbacks all resolve their organisation here.
 */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([OrganizationEntity])],
  controllers: [OrganizationsController, OwnOrganizationController],
  providers: [
    OrganizationsRepository,
    OrganizationsService,
    OrganizationOperations,
    { provide: APP_INTERCEPTOR, useClass: OrganizationScopeInterceptor },
  ],
  exports: [OrganizationsService],
})
export class OrganizationsModule {}
