import {
  BadRequestException,
  Controller,
  Get,
  Header,
  Inject,
  Query,
  Res,
  UseFilters,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

import { Public } from '../../src/auth/auth.decorators.js';
import type { AppConfigService } from '../../src/config/app-config.js';
import { DEFAULT_ORGANIZATION } from '../../src/organizations/organization.js';
import { OrganizationsService } from '../../src/organizations/organizations.service.js';
import { RuntimeSettings } from '../../src/settings/runtime-settings.js';
import { SANDBOX_ADMIN_USERID, SANDBOX_AUTHORIZE_PATH } from '../../src/sign-in/console-sign-in.js';
import { CALLBACK_PATH, signInRedirectUri } from '../../src/sign-in/sign-in.service.js';
import { escapeHtml, SignInErrorPageFilter } from '../../src/sign-in/sign-in-error-page.filter.js';

/** The simulator's base URL (WeComSandbox provides it; a token, as the sandbox imports this file). */
export const SIMULATOR_URL = Symbol('WeComSimulatorUrl');

const USERID = /^[A-Za-z0-9_.@-]{1,64}$/;
const STATE = /^[A-Za-z0-9]{1,128}$/;

/**
 * Sandbox mode only (WeComSandbox adds it to the app): the stand-in for WeCom's authorize and QR
 * login pages, which cannot reach a simulated member. WeCom would authenticate the member; here
 * the browser names one (`login_hint`, or the form), the simulator issues a real single-use
 * OAuth code for them, and the browser goes back to the service's callback exactly as WeCom
 * sends it: the rest of the sign-in (state, cookie, getuserinfo over HTTP, the JWT) is the real
 * flow. Outside sandbox mode this controller does not exist (404).
 *
 * The redirect_uri names the organisation (`?org=<slug>`, none for `default`, whose app is the
 * sandbox corp's): the appid and agentid must be that organisation's app, and the code is issued
 * by its corp in the simulator.
 */
@ApiExcludeController()
@Public()
@UseFilters(SignInErrorPageFilter)
@Controller(SANDBOX_AUTHORIZE_PATH.slice(1))
export class SandboxSignInController {
  private readonly callbackUrl: string;

  constructor(
    private readonly runtime: RuntimeSettings,
    private readonly organizations: OrganizationsService,
    @Inject(SIMULATOR_URL) private readonly simulatorUrl: string,
    @Inject(ConfigService) config: AppConfigService,
  ) {
    const base =
      config.get('PUBLIC_BASE_URL', { infer: true }) ??
      `http://localhost:${config.get('PORT', { infer: true })}`;
    this.callbackUrl = `${base.replace(/\/+$/, '')}${CALLBACK_PATH}`;
  }

  @Get()
  @Header('Cache-Control', 'no-store')
  async authorize(
    @Query('appid') appid: unknown,
    @Query('agentid') agentid: unknown,
    @Query('redirect_uri') redirectUri: unknown,
    @Query('state') state: unknown,
    @Query('login_hint') member: unknown,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    // WeCom only sends members back to the app's trusted domain; here, to this service alone.
    const organization = await this.organizationOf(redirectUri);
    const { corpId, agentId } = await this.organizations.within(organization, () =>
      this.runtime.current(),
    );
    if (appid !== corpId || agentid !== String(agentId)) {
      throw new BadRequestException('appid and agentid are not those of this corp and app');
    }
    if (typeof state !== 'string' || !STATE.test(state)) {
      throw new BadRequestException('state must be 1-128 letters or digits');
    }
    if (member === undefined || member === '') {
      await reply
        .type('text/html; charset=utf-8')
        .send(this.picker(appid, agentid, redirectUri as string, state));
      return;
    }
    if (typeof member !== 'string' || !USERID.test(member)) {
      throw new BadRequestException('login_hint must be a WeCom userid');
    }
    const answer = await fetch(`${this.simulatorUrl}/__simulator/oauth/codes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userid: member, corpId }),
    });
    if (!answer.ok) {
      throw new BadRequestException(`${member} is not a member of the simulated corp`);
    }
    const { code } = (await answer.json()) as { code: string };
    const back = new URL(redirectUri as string);
    back.searchParams.set('code', code);
    back.searchParams.set('state', state);
    await reply.redirect(back.toString(), 302);
  }

  /** The organisation a redirect_uri of this service's callback names (`?org=`, else default). */
  private async organizationOf(redirectUri: unknown) {
    let org: string = DEFAULT_ORGANIZATION.slug;
    try {
      org = new URL(String(redirectUri)).searchParams.get('org') ?? org;
    } catch {
      // not a URL: refused below, as it is not the callback's
    }
    const organization = await this.organizations.find(org);
    if (
      !organization ||
      organization.slug !== org ||
      redirectUri !== signInRedirectUri(this.callbackUrl, organization)
    ) {
      throw new BadRequestException(
        `redirect_uri must be ${this.callbackUrl}, with ?org=<slug> for an organisation other than default`,
      );
    }
    return organization;
  }

  /** Which simulated member signs in: a form, as WeCom's page would show a QR code. */
  private picker(appid: string, agentid: string, redirectUri: string, state: string): string {
    const hidden = Object.entries({ appid, agentid, redirect_uri: redirectUri, state })
      .map(([k, v]) => `<input type="hidden" name="${k}" value="${escapeHtml(v)}">`)
      .join('');
    return (
      '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
      '<meta name="viewport" content="width=device-width, initial-scale=1">' +
      '<title>WeCom sign-in (sandbox)</title></head><body>' +
      '<h1>WeCom sign-in · sandbox</h1>' +
      '<p>This is the WeCom simulator, standing in for WeCom&#39;s sign-in page. ' +
      'Sign in as a member of the simulated corp:</p>' +
      `<form method="get" action="${SANDBOX_AUTHORIZE_PATH}">${hidden}` +
      '<label for="login_hint">WeCom userid</label> ' +
      `<input id="login_hint" name="login_hint" value="${SANDBOX_ADMIN_USERID}" required> ` +
      '<button type="submit">Sign in</button></form></body></html>'
    );
  }
}
