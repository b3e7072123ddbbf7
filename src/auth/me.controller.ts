import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';

import { CurrentUser, RoleOptional } from './auth.decorators.js';
import type { AuthUser } from './roles.js';

class MeResponse {
  id: string;
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
  @ApiOperation({ summary: 'Who the bearer token says the caller is (roles may be empty)' })
  @ApiOkResponse({ type: MeResponse })
  me(@CurrentUser() user: AuthUser): MeResponse {
    return { id: user.id, roles: user.roles };
  }
}
