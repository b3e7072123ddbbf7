import { Controller, Get, Header, Query, Redirect, Req, Res, UseFilters } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';

import { Public } from '../auth/auth.decorators.js';
import { SignInErrorPageFilter } from './sign-in-error-page.filter.js';
import { SignInService } from './sign-in.service.js';

/** Browser routes (outside /api): errors are HTML pages, success is a 302. */
@ApiTags('auth')
@Public()
@UseFilters(SignInErrorPageFilter)
@Controller('auth/wecom')
export class SignInController {
  constructor(private readonly signIn: SignInService) {}

  @Get('login')
  @Redirect(undefined, 302)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'Start sign-in with WeCom (302 to WeCom)' })
  @ApiQuery({ name: 'redirect', required: false, description: 'Frontend path, e.g. /interviews' })
  @ApiQuery({ name: 'mode', required: false, enum: ['app', 'qr'] })
  async login(
    @Query('redirect') redirect: unknown,
    @Query('mode') mode: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ url: string }> {
    const cookie = this.signIn.browserCookie;
    const browser = cookie.valueFor(req);
    const url = await this.signIn.loginUrl(redirect, mode, browser);
    cookie.set(res, browser);
    return { url };
  }

  @Get('callback')
  @Redirect(undefined, 302)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'WeCom sends the browser back here (302 to the frontend with #token=)' })
  async callback(
    @Query('code') code: unknown,
    @Query('state') state: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ url: string }> {
    const cookie = this.signIn.browserCookie;
    const browser = cookie.read(req);
    cookie.clear(res); // set on error pages too: whatever happens, this round trip is over
    return { url: await this.signIn.complete(code, state, browser) };
  }
}
