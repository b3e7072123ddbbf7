import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadGatewayResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';

import { UuidParam } from '../common/uuid-param.pipe.js';
import { CurrentUser, Roles } from '../auth/auth.decorators.js';
import type { AuthUser } from '../auth/roles.js';
import {
  CreateUserMappingDto,
  ListUserMappingsQueryDto,
  UserMappingDto,
  UserMappingPageDto,
} from './dto/user-mapping.dto.js';
import { UserMappingsService } from './user-mappings.service.js';

@ApiTags('user-mappings')
@ApiBearerAuth()
@Roles('admin', 'recruiter')
@Controller('api/user-mappings')
export class UserMappingsController {
  constructor(private readonly mappings: UserMappingsService) {}

  @Post()
  @ApiOperation({
    operationId: 'createUserMapping',
    summary: 'Map a platform user to a WeCom member (by userid, mobile or email)',
  })
  @ApiCreatedResponse({ type: UserMappingDto })
  @ApiConflictResponse({ description: 'Either side is already mapped; the body names the holder' })
  @ApiUnprocessableEntityResponse({
    description: 'WeCom does not know the member; carries its errcode',
  })
  @ApiBadGatewayResponse({ description: 'WeCom could not be reached to resolve the member' })
  create(
    @Body() dto: CreateUserMappingDto,
    @CurrentUser() user: AuthUser,
  ): Promise<UserMappingDto> {
    return this.mappings.create(dto, user.id);
  }

  @Get()
  @ApiOperation({ operationId: 'listUserMappings', summary: 'List mappings, newest first' })
  @ApiOkResponse({ type: UserMappingPageDto })
  list(@Query() query: ListUserMappingsQueryDto): Promise<UserMappingPageDto> {
    return this.mappings.list(query);
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getUserMapping', summary: 'One mapping' })
  @ApiOkResponse({ type: UserMappingDto })
  get(@Param('id', UuidParam) id: string): Promise<UserMappingDto> {
    return this.mappings.get(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteUserMapping',
    summary: 'Remove a mapping; its platform user gets no more WeCom messages',
  })
  @ApiNoContentResponse({ description: 'Removed' })
  remove(@Param('id', UuidParam) id: string): Promise<void> {
    return this.mappings.remove(id);
  }
}
