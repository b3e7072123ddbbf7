import { Controller, Get, Header, Query, Redirect, Req, Res, UseFilters } from '@nestjs/common';
import {
  ApiBadGatewayResponse,
  ApiBadRequestResponse,
  ApiExtension,
  ApiForbiddenResponse,
  ApiFoundResponse,
  ApiOperation,
  ApiQuery,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';

import { Public } from '../auth/auth.decorators.js';
import { ERROR_MEDIA_TYPE_EXTENSION } from '../openapi/openapi-document.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import { OrganizationsService } from '../organizations/organizations.service.js';
import { SignInErrorPageFilter } from './sign-in-error-page.filter.js';
import { SignInService } from './sign-in.service.js';

/** Browser routes (outside /api): errors are HTML pages, success is a 302. */
@ApiTags('auth')
@ApiExtension(ERROR_MEDIA_TYPE_EXTENSION, 'text/html')
@ApiBadRequestResponse({ description: 'An HTML page: the link is not valid (it says why)' })
@ApiServiceUnavailableResponse({ description: 'An HTML page: sign-in is not configured' })
@Public()
@UseFilters(SignInErrorPageFilter)
@Controller('auth/wecom')
export class SignInController {
  constructor(
    private readonly signIn: SignInService,
    private readonly organizations: OrganizationsService,
  ) {}

  @Get('login')
  @Redirect(undefined, 302)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'startWeComSignIn',
    summary: 'Start sign-in with WeCom (302 to WeCom)',
    description: 'A browser route: open it, do not fetch it.',
  })
  @ApiFoundResponse({
    description: "To WeCom's authorisation page (in the WeCom app) or QR login",
    headers: {
      Location: { description: 'The WeCom URL', schema: { type: 'string', format: 'uri' } },
    },
  })
  @ApiQuery({
    name: 'redirect',
    type: String,
    required: false,
    description: 'Frontend path, e.g. /interviews',
  })
  @ApiQuery({ name: 'mode', required: false, enum: ['app', 'qr'] })
  @ApiQuery({
    name: 'target',
    required: false,
    enum: ['frontend', 'console'],
    description:
      '`console`: sign in to the admin console (/admin) as an admin; only the members listed in CONSOLE_ADMINS may. `redirect` is then a console path, e.g. /people',
  })
  @ApiQuery({
    name: 'member',
    type: String,
    required: false,
    description: 'Sandbox mode only (400 otherwise): the simulator member to sign in as',
  })
  async login(
    @Query('redirect') redirect: unknown,
    @Query('mode') mode: unknown,
    @Query('target') target: unknown,
    @Query('member') member: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ url: string }> {
    const cookie = this.signIn.browserCookie;
    const browser = cookie.valueFor(req);
    const url = await this.organizations.within(DEFAULT_ORGANIZATION, () =>
      this.signIn.loginUrl(redirect, mode, browser, { target, member }),
    );
    cookie.set(res, browser);
    return { url };
  }

  @Get('callback')
  @Redirect(undefined, 302)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'completeWeComSignIn',
    summary: 'WeCom sends the browser back here (302 to the frontend with #token=)',
  })
  @ApiQuery({ name: 'code', type: String, required: false, description: 'From WeCom, single use' })
  @ApiQuery({ name: 'state', type: String, required: false, description: 'As given to WeCom' })
  @ApiFoundResponse({
    description: 'To the frontend, with the token in the fragment (`#token=`)',
    headers: {
      Location: { description: 'The frontend URL', schema: { type: 'string', format: 'uri' } },
    },
  })
  @ApiForbiddenResponse({ description: 'An HTML page: not a member, or not linked to a user' })
  @ApiBadGatewayResponse({ description: 'An HTML page: WeCom could not confirm who it is' })
  async callback(
    @Query('code') code: unknown,
    @Query('state') state: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ url: string }> {
    const cookie = this.signIn.browserCookie;
    const browser = cookie.read(req);
    cookie.clear(res); // set on error pages too: whatever happens, this round trip is over
    return {
      url: await this.organizations.within(DEFAULT_ORGANIZATION, () =>
        this.signIn.complete(code, state, browser),
      ),
    };
  }
}
