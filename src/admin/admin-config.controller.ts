import { Body, Controller, Get, HttpCode, Patch, Post, Put, Query } from '@nestjs/common';
import {
  ApiBadGatewayResponse,
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';

import { CurrentUser, Roles } from '../auth/auth.decorators.js';
import type { AuthUser } from '../auth/roles.js';
import { AdminConfigService } from './admin-config.service.js';
import {
  AdminConfigViewDto,
  AuditPageDto,
  AuditQueryDto,
  PatchAdminConfigDto,
  UpdateAdminConfigDto,
  WeComCheckResultDto,
} from './dto/admin-config.dto.js';

const CREDENTIALS_REFUSED = {
  description:
    'WeCom refused the new credentials at gettoken (`errcode` says why); nothing was changed',
};
const CREDENTIALS_UNCHECKED = {
  description: 'WeCom could not be reached to try the new credentials; nothing was changed',
};
const APP_TAKEN = {
  description:
    'Not an admin; or (type `urn:showmebug-wecom:problem:wecom-app-taken`) WeCom accepted the ' +
    'credentials but that app (corpId, agentId) is configured for another organisation; nothing was changed',
};

/** The configuration of the caller's organisation (the scope of the request), nobody else's. */
@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('api/admin')
export class AdminConfigController {
  constructor(private readonly service: AdminConfigService) {}

  @Get('config')
  @ApiOperation({
    operationId: 'getAdminConfig',
    summary: 'The configuration in force (secrets masked) and the token status',
  })
  @ApiOkResponse({ type: AdminConfigViewDto })
  get() {
    return this.service.view();
  }

  @Put('config')
  @ApiOperation({
    operationId: 'replaceAdminConfig',
    summary: 'Replace the configuration; new credentials are tried with gettoken first (422)',
  })
  @ApiOkResponse({ type: AdminConfigViewDto })
  @ApiUnprocessableEntityResponse(CREDENTIALS_REFUSED)
  @ApiBadGatewayResponse(CREDENTIALS_UNCHECKED)
  @ApiForbiddenResponse(APP_TAKEN)
  put(@Body() body: UpdateAdminConfigDto, @CurrentUser() user: AuthUser) {
    return this.service.update(body, user.id);
  }

  @Patch('config')
  @ApiOperation({
    operationId: 'updateAdminConfig',
    summary: 'Change some fields; same checks as PUT',
  })
  @ApiOkResponse({ type: AdminConfigViewDto })
  @ApiUnprocessableEntityResponse(CREDENTIALS_REFUSED)
  @ApiBadGatewayResponse(CREDENTIALS_UNCHECKED)
  @ApiForbiddenResponse(APP_TAKEN)
  patch(@Body() body: PatchAdminConfigDto, @CurrentUser() user: AuthUser) {
    return this.service.update(body, user.id);
  }

  @Get('audit')
  @ApiOperation({
    operationId: 'listAdminAudit',
    summary: 'Who changed the configuration, when, which fields; newest first',
  })
  @ApiOkResponse({ type: AuditPageDto })
  audit(@Query() query: AuditQueryDto) {
    return this.service.audit(query.limit, query.cursor);
  }

  @Post('wecom/check')
  @HttpCode(200)
  @ApiOperation({
    operationId: 'checkWeCom',
    summary: 'Call gettoken with the credentials in force; report what WeCom said',
  })
  @ApiOkResponse({ type: WeComCheckResultDto })
  check(@CurrentUser() user: AuthUser) {
    return this.service.check(user.id);
  }
}
