import { Controller, Get, Header, Query, Redirect, Req, Res, UseFilters } from '@nestjs/common';
import {
  ApiBadGatewayResponse,
  ApiBadRequestResponse,
  ApiExtension,
  ApiForbiddenResponse,
  ApiFoundResponse,
  ApiNotFoundResponse,
  ApiOperation,
  ApiQuery,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { Public } from '../auth/auth.decorators.js';
import { jsonSchemaPattern } from '../common/json-schema-pattern.js';
import { ORGANIZATION_SLUG_PATTERN } from '../organizations/organization.js';
import { ERROR_MEDIA_TYPE_EXTENSION } from '../openapi/openapi-document.js';
import { SignInErrorPageFilter } from './sign-in-error-page.filter.js';
import { SignInService } from './sign-in.service.js';

/** `org`: which organisation's WeCom app the member signs in with. */
const ORG_QUERY = {
  name: 'org',
  required: false,
  schema: { type: 'string' as const, pattern: jsonSchemaPattern(ORGANIZATION_SLUG_PATTERN) },
};

/** Browser routes (outside /api): errors are HTML pages, success is a 302. */
@ApiTags('auth')
@ApiExtension(ERROR_MEDIA_TYPE_EXTENSION, 'text/html')
@ApiBadRequestResponse({ description: 'An HTML page: the link is not valid (it says why)' })
@ApiServiceUnavailableResponse({ description: 'An HTML page: sign-in is not configured' })
@ApiNotFoundResponse({ description: 'An HTML page: `org` names no organisation' })
@Public()
@UseFilters(SignInErrorPageFilter)
@Controller('auth/wecom')
export class SignInController {
  constructor(private readonly signIn: SignInService) {}

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
  @ApiForbiddenResponse({ description: 'An HTML page: the organisation is suspended' })
  @ApiQuery({
    ...ORG_QUERY,
    description: 'Slug of the organisation whose WeCom members sign in (absent: `default`)',
  })
  @ApiQuery({
    name: 'target',
    required: false,
    enum: ['frontend', 'console'],
    description:
      '`console`: sign in to the admin console (/admin) as an admin of the organisation; only its console admins may (`consoleAdmins` of the organisation; for `default` also CONSOLE_ADMINS). `redirect` is then a console path, e.g. /people',
  })
  @ApiQuery({
    name: 'member',
    type: String,
    required: false,
    description: 'Sandbox mode only (400 otherwise): the simulator member to sign in as',
  })
  async login(
    @Query('org') org: unknown,
    @Query('redirect') redirect: unknown,
    @Query('mode') mode: unknown,
    @Query('target') target: unknown,
    @Query('member') member: unknown,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ url: string }> {
    const cookie = this.signIn.browserCookie;
    const browser = cookie.valueFor(req);
    const url = await this.signIn.loginUrl(org, redirect, mode, browser, { target, member });
    cookie.set(reply, browser);
    return { url };
  }

  @Get('callback')
  @Redirect(undefined, 302)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    operationId: 'completeWeComSignIn',
    summary: 'WeCom sends the browser back here (302 to the frontend with #token=)',
  })
  @ApiQuery({
    ...ORG_QUERY,
    description: 'As in the redirect_uri given to WeCom (absent: `default`)',
  })
  @ApiQuery({ name: 'code', type: String, required: false, description: 'From WeCom, single use' })
  @ApiQuery({ name: 'state', type: String, required: false, description: 'As given to WeCom' })
  @ApiFoundResponse({
    description: 'To the frontend, with the token in the fragment (`#token=`)',
    headers: {
      Location: { description: 'The frontend URL', schema: { type: 'string', format: 'uri' } },
    },
  })
  @ApiForbiddenResponse({
    description:
      'An HTML page: not a member, not linked to a user, or the organisation is suspended',
  })
  @ApiBadGatewayResponse({ description: 'An HTML page: WeCom could not confirm who it is' })
  async callback(
    @Query('org') org: unknown,
    @Query('code') code: unknown,
    @Query('state') state: unknown,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ url: string }> {
    const cookie = this.signIn.browserCookie;
    const browser = cookie.read(req);
    cookie.clear(reply); // set on error pages too: whatever happens, this round trip is over
    return { url: await this.signIn.complete(org, code, state, browser) };
  }
}
