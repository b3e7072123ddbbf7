import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';

import { OwnOrganizationDto } from '../organizations/dto/organization.dto.js';
import { OrganizationsService } from '../organizations/organizations.service.js';
import { CurrentUser, RoleOptional } from './auth.decorators.js';
import { ROLES, type AuthUser } from './roles.js';

class MeResponse {
  @ApiProperty({ example: 'u_1024', description: 'The platform user id (`sub`)' })
  id: string;
  @ApiProperty({ enum: ROLES, isArray: true, example: ['recruiter'] })
  roles: string[];
  @ApiProperty({
    type: OwnOrganizationDto,
    description:
      'The organisation the token works in (its `org` claim, or `default` while it is the only one)',
  })
  organization: OwnOrganizationDto;
}

@ApiTags('auth')
@ApiBearerAuth()
@Controller('api/me')
export class MeController {
  constructor(private readonly organizations: OrganizationsService) {}

  @Get()
  // Answers a role-less token too: it only repeats what the token says, and lets a frontend
  // tell a signed-in user without any role why every other route is a 403.
  @RoleOptional()
  @ApiOperation({
    operationId: 'getMe',
    summary:
      'Who the bearer token says the caller is (roles may be empty), and in which organisation',
  })
  @ApiOkResponse({ type: MeResponse })
  async me(@CurrentUser() user: AuthUser): Promise<MeResponse> {
    // The AuthGuard resolved the organisation (from the held directory) and scoped the request.
    const { id, slug, name } = (await this.organizations.find(this.organizations.current()!.id))!;
    return { id: user.id, roles: user.roles, organization: { id, slug, name } };
  }
}
