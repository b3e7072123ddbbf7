import { Controller, Get, Header, Query } from '@nestjs/common';
import {
  ApiBadGatewayResponse,
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';

import { JssdkConfigDto, JssdkConfigQueryDto } from './dto/jssdk-config.dto.js';
import { JssdkService } from './jssdk.service.js';

@ApiTags('wecom')
@ApiBearerAuth()
@Controller('api/wecom/jssdk-config')
export class JssdkController {
  constructor(private readonly jssdk: JssdkService) {}

  @Get()
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'getJssdkConfig',
    summary: 'Signatures for wx.config and wx.agentConfig on one of our pages',
  })
  @ApiOkResponse({ type: JssdkConfigDto })
  @ApiBadGatewayResponse({ description: 'WeCom did not hand out a jsapi ticket' })
  @ApiServiceUnavailableResponse({
    description: "FRONTEND_URL is not configured, or the organisation's WeCom app is not",
  })
  config(@Query() query: JssdkConfigQueryDto): Promise<JssdkConfigDto> {
    return this.jssdk.config(query.url);
  }
}
