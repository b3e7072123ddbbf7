import { Body, Controller, Get, HttpCode, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { CurrentUser, Roles } from '../auth/auth.decorators.js';
import type { AuthUser } from '../auth/roles.js';
import { AdminConfigService } from './admin-config.service.js';
import {
  AuditQueryDto,
  PatchAdminConfigDto,
  UpdateAdminConfigDto,
} from './dto/admin-config.dto.js';

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('api/admin')
export class AdminConfigController {
  constructor(private readonly service: AdminConfigService) {}

  @Get('config')
  @ApiOperation({ summary: 'The configuration in force (secrets masked) and the token status' })
  get() {
    return this.service.view();
  }

  @Put('config')
  @ApiOperation({
    summary: 'Replace the configuration; new credentials are tried with gettoken first (422)',
  })
  put(@Body() body: UpdateAdminConfigDto, @CurrentUser() user: AuthUser) {
    return this.service.update(body, user.id);
  }

  @Patch('config')
  @ApiOperation({ summary: 'Change some fields; same checks as PUT' })
  patch(@Body() body: PatchAdminConfigDto, @CurrentUser() user: AuthUser) {
    return this.service.update(body, user.id);
  }

  @Get('audit')
  @ApiOperation({ summary: 'Who changed the configuration, when, which fields; newest first' })
  audit(@Query() query: AuditQueryDto) {
    return this.service.audit(query.limit, query.cursor);
  }

  @Post('wecom/check')
  @HttpCode(200)
  @ApiOperation({ summary: 'Call gettoken with the credentials in force; report what WeCom said' })
  check(@CurrentUser() user: AuthUser) {
    return this.service.check(user.id);
  }
}
