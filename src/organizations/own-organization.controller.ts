import { Controller, Get, NotFoundException } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Roles } from '../auth/auth.decorators.js';
import { requireOrganizationScope } from '../common/organization-scope.js';
import { OwnOrganizationDto } from './dto/organization.dto.js';
import { OrganizationsService } from './organizations.service.js';

/**
 * The organisation the caller's token works in, for its admins (the console shows its name in
 * the header). Not the operators' routes: it names the caller's own organisation and nothing else.
 * Admins only, as the console is its one user: an interviewer's surface stays as short as it is.
 */
@ApiTags('organizations')
@ApiBearerAuth()
@Roles('admin')
@Controller('api/organization')
export class OwnOrganizationController {
  constructor(private readonly organizations: OrganizationsService) {}

  @Get()
  @ApiOperation({
    operationId: 'getOwnOrganization',
    summary: "The admin's organisation (the one the token names): id, slug and name",
  })
  @ApiOkResponse({ type: OwnOrganizationDto })
  async get(): Promise<OwnOrganizationDto> {
    // The AuthGuard resolved it moments ago (and refused a suspended one).
    const { id } = requireOrganizationScope('GET /api/organization');
    const found = await this.organizations.find(id);
    if (!found) throw new NotFoundException('Organisation not found');
    return { id: found.id, slug: found.slug, name: found.name };
  }
}
