import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';

import { CurrentUser, RoleOptional } from './auth.decorators.js';
import { ROLES, type AuthUser } from './roles.js';

class MeResponse {
  @ApiProperty({ example: 'u_1024', description: 'The platform user id (`sub`)' })
  id: string;
  @ApiProperty({ enum: ROLES, isArray: true, example: ['recruiter'] })
  roles: string[];
}

@ApiTags('auth')
@ApiBearerAuth()
@Controller('api/me')
export class MeController {
  @Get()
  // Answers a role-less token too: it only repeats what the token says, and lets a frontend
  // tell a signed-in user without any role why every other route is a 403.
  @RoleOptional()
  @ApiOperation({
    operationId: 'getMe',
    summary: 'Who the bearer token says the caller is (roles may be empty)',
  })
  @ApiOkResponse({ type: MeResponse })
  me(@CurrentUser() user: AuthUser): MeResponse {
    return { id: user.id, roles: user.roles };
  }
}
