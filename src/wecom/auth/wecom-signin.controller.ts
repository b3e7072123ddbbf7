import { Controller, Get, Header, Query, Redirect, UseFilters } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';

import { Public } from '../../auth/auth.decorators.js';
import { SignInErrorPageFilter } from './signin-error-page.filter.js';
import { WeComSignInService } from './wecom-signin.service.js';

/** Browser routes (outside /api): errors are HTML pages, success is a 302. */
@ApiTags('auth')
@Public()
@UseFilters(SignInErrorPageFilter)
@Controller('auth/wecom')
export class WeComSignInController {
  constructor(private readonly signIn: WeComSignInService) {}

  @Get('login')
  @Redirect(undefined, 302)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'Start sign-in with WeCom (302 to WeCom)' })
  @ApiQuery({ name: 'redirect', required: false, description: 'Frontend path, e.g. /interviews' })
  @ApiQuery({ name: 'mode', required: false, enum: ['app', 'qr'] })
  async login(
    @Query('redirect') redirect: unknown,
    @Query('mode') mode: unknown,
  ): Promise<{ url: string }> {
    return { url: await this.signIn.loginUrl(redirect, mode) };
  }

  @Get('callback')
  @Redirect(undefined, 302)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'WeCom sends the browser back here (302 to the frontend with #token=)' })
  async callback(
    @Query('code') code: unknown,
    @Query('state') state: unknown,
  ): Promise<{ url: string }> {
    return { url: await this.signIn.complete(code, state) };
  }
}
