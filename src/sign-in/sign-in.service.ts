import {
  BadGatewayException,
  BadRequestException,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

import { JwtVerifier } from '../auth/jwt-verifier.js';
import { FrontendUrl } from '../common/frontend-url.js';
import type { AppConfigService } from '../config/app-config.js';
import {
  DEFAULT_ORGANIZATION,
  ORGANIZATION_SLUG_PATTERN,
  type Organization,
} from '../organizations/organization.js';
import { OrganizationsService } from '../organizations/organizations.service.js';
import { UserMappingsService } from '../user-mappings/user-mappings.service.js';
import { WeComApiError } from '../wecom/client/wecom-api.error.js';
import { WeComClient } from '../wecom/client/wecom.client.js';
import { WeComSettings } from '../wecom/wecom-settings.js';
import {
  CONSOLE_BASE_PATH,
  consoleAdmins,
  consolePathOf,
  consoleRedirect,
  consoleSubject,
  sandboxAuthorizeUrl,
} from './console-sign-in.js';
import { OAuthStateService } from './oauth-state.service.js';
import { SignInBrowserCookie } from './sign-in-browser-cookie.js';
import { oauthAuthorizeUrl, qrLoginUrl } from './wecom-oauth-urls.js';

export const CALLBACK_PATH = '/auth/wecom/callback';
const INVALID_CODE_ERRCODE = 40029;
/** WeCom codes are short url-safe strings; anything else is not worth a call. */
const CODE_FORMAT = /^[\x21-\x7e]{1,512}$/;

export type SignInMode = 'app' | 'qr';

/**
 * The redirect_uri of an organisation's sign-in: `callbackUrl` (PUBLIC_BASE_URL + CALLBACK_PATH)
 * for the default organisation, as it has always been; others name themselves (`?org=<slug>`).
 */
export function signInRedirectUri(
  callbackUrl: string,
  organization: Pick<Organization, 'id' | 'slug'>,
): string {
  if (organization.id === DEFAULT_ORGANIZATION.id) return callbackUrl;
  return `${callbackUrl}?${new URLSearchParams({ org: organization.slug }).toString()}`;
}

/** Where a sign-in leads: the ShowMeBug frontend (FRONTEND_URL) or the admin console (/admin). */
export interface SignInTarget {
  target?: unknown;
  /** Sandbox mode only: the simulator member to sign in as, without picking one. */
  member?: unknown;
}

const MEMBER_FORMAT = /^[A-Za-z0-9_.@-]{1,64}$/;
/**
 * Sign-in with WeCom: a member opens /auth/wecom/login?org=<slug> (in the WeCom app, or with
 * `mode=qr` from a desktop browser), WeCom sends them back with a code, and the mapped platform
 * user gets a JWT in the URL fragment of the frontend page they asked for. Only mapped members get
 * a session; the mapping is made by an admin (user-mappings), see `unmapped()` for email.
 *
 * Everything happens in the organisation the URL names (`default` when it names none): its WeCom
 * app, its state, its members and mappings. The redirect_uri carries the organisation
 * (/auth/wecom/callback?org=<slug>; WeCom keeps the query and appends code and state), so the
 * callback consumes the state in the organisation that issued it, and the JWT names it (`org`).
 */
@Injectable()
export class SignInService {
  private readonly logger = new Logger(SignInService.name);
  private readonly frontend?: FrontendUrl;
  /** The redirect_uri of the default organisation; others' add `?org=<slug>`. */
  private readonly redirectUri: string;
  /** The cookie binding a sign-in to its browser, scoped to the redirect_uri's folder. */
  readonly browserCookie: SignInBrowserCookie;
  private readonly ttl: string;
  private readonly autoMapByEmail: boolean;
  private readonly canMint: boolean;
  private readonly publicBase: string;
  /** The admin console's URLs, as FRONTEND_URL's are for the frontend. */
  private readonly console: FrontendUrl;
  private readonly admins: Set<string>;

  constructor(
    private readonly states: OAuthStateService,
    private readonly client: WeComClient,
    private readonly settings: WeComSettings,
    private readonly mappings: UserMappingsService,
    private readonly jwt: JwtVerifier,
    private readonly organizations: OrganizationsService,
    @Inject(ConfigService) config: AppConfigService,
  ) {
    const frontendUrl = config.get('FRONTEND_URL', { infer: true });
    if (frontendUrl) this.frontend = new FrontendUrl(frontendUrl);
    const publicBase =
      config.get('PUBLIC_BASE_URL', { infer: true }) ??
      `http://localhost:${config.get('PORT', { infer: true })}`;
    this.publicBase = publicBase.replace(/\/+$/, '');
    this.redirectUri = `${this.publicBase}${CALLBACK_PATH}`;
    this.console = new FrontendUrl(`${this.publicBase}${CONSOLE_BASE_PATH}`);
    this.admins = consoleAdmins(config.get('CONSOLE_ADMINS', { infer: true }), settings.sandbox);
    this.browserCookie = new SignInBrowserCookie(this.redirectUri);
    this.ttl = config.get('SIGNIN_JWT_TTL', { infer: true });
    this.autoMapByEmail = config.get('AUTO_MAP_BY_EMAIL', { infer: true });
    // Without AUTH_JWT_SECRET the verifier signs with the public development secret.
    this.canMint =
      Boolean(config.get('AUTH_JWT_SECRET', { infer: true })) ||
      config.get('NODE_ENV', { infer: true }) !== 'production';
  }

  /**
   * Where to send the browser to start: the WeCom authorize page or the QR login page of the
   * organisation `org` names. `browser` is the value of its sign-in cookie (see
   * SignInBrowserCookie), which the state commits to.
   */
  async loginUrl(
    org: unknown,
    redirect: unknown,
    mode: unknown,
    browser: string,
    { target, member }: SignInTarget = {},
  ): Promise<string> {
    if (target !== undefined && target !== 'frontend' && target !== 'console') {
      throw new BadRequestException('target must be "frontend" or "console"');
    }
    const toConsole = target === 'console';
    const base = toConsole ? this.requireConsole() : this.requireFrontend();
    const organization = await this.organizationFor(org);
    if (mode !== undefined && mode !== 'app' && mode !== 'qr') {
      throw new BadRequestException('mode must be "app" or "qr"');
    }
    if (member !== undefined) {
      if (!this.settings.sandbox) {
        throw new BadRequestException('member is only for the sandbox (the WeCom simulator)');
      }
      if (typeof member !== 'string' || !MEMBER_FORMAT.test(member)) {
        throw new BadRequestException('member must be a WeCom userid');
      }
    }
    const path = redirect === undefined ? '/' : redirect;
    if (base.resolvePath(path) === null) {
      throw new BadRequestException(
        toConsole
          ? 'redirect must be a path of the admin console, such as /people (one leading slash, no #)'
          : 'redirect must be a path of our frontend, such as /interviews (one leading slash, no #)',
      );
    }
    const stored = toConsole ? consoleRedirect(path as string) : (path as string);
    return this.organizations.within(organization, async () => {
      const state = await this.states.issue(stored, browser);
      const { corpId, agentId } = await this.settings.credentials();
      const redirectUri = this.redirectUriFor(organization);
      const params = { corpId, agentId, redirectUri, state };
      if (this.settings.sandbox) {
        return sandboxAuthorizeUrl(this.publicBase, { ...params, member: member as string });
      }
      return mode === 'qr' ? qrLoginUrl(params) : oauthAuthorizeUrl(params);
    });
  }

  /**
   * WeCom sent the browser back: the frontend URL with the JWT in its fragment. `org` is the
   * organisation the redirect_uri named; `browser` is the sign-in cookie the browser sent
   * (undefined: none). A state another browser started is refused before the code is looked at,
   * so nobody can be signed in as someone else by a link; a state another organisation issued is
   * not found here, like a made-up one.
   */
  async complete(
    org: unknown,
    code: unknown,
    state: unknown,
    browser: string | undefined,
  ): Promise<string> {
    const organization = await this.organizationFor(org);
    return this.organizations.within(organization, async () => {
      const consumed = await this.states.consume(state, browser);
      if (!consumed.ok && consumed.reason === 'browser') {
        this.logger.warn('Refused a sign-in callback: the state was issued to another browser');
        throw new BadRequestException(
          'This sign-in was not started in this browser (or its sign-in cookie is gone). Start the sign-in again here.',
        );
      }
      const consolePath = consumed.ok ? consolePathOf(consumed.redirect) : null;
      const base = consolePath !== null ? this.requireConsole() : this.requireFrontend();
      const target = consumed.ok ? base.resolvePath(consolePath ?? consumed.redirect) : null;
      if (target === null) {
        throw new BadRequestException(
          'This sign-in link is invalid, expired or already used. Start the sign-in again.',
        );
      }
      if (typeof code !== 'string' || !CODE_FORMAT.test(code)) {
        throw new BadRequestException('WeCom did not send an authorisation code. Sign in again.');
      }
      const userid = await this.memberFor(code);
      const mapping = await this.mappings.findByWecomUserId(userid);
      if (consolePath !== null) {
        return this.consoleSession(organization, userid, mapping?.platformUserId, target);
      }
      if (!mapping) return this.unmapped(userid);

      const token = await this.jwt.sign(
        { id: mapping.platformUserId, roles: ['interviewer'], organization: organization.slug },
        this.ttl,
      );
      this.logger.log(
        `WeCom member ${userid} of ${organization.slug} signed in as platform user ${mapping.platformUserId}`,
      );
      return `${target}#token=${token}`;
    });
  }

  /**
   * The organisation a sign-in URL names by slug (`org`), `default` when it names none. One 404
   * for unknown and malformed slugs; a suspended organisation's members cannot sign in.
   */
  private async organizationFor(org: unknown): Promise<Organization> {
    const slug = org === undefined ? DEFAULT_ORGANIZATION.slug : org;
    if (typeof slug !== 'string') {
      throw new BadRequestException('org must be given once, as the slug of an organisation');
    }
    const found = ORGANIZATION_SLUG_PATTERN.test(slug)
      ? await this.organizations.find(slug)
      : undefined;
    if (found?.slug !== slug) throw new NotFoundException('No organisation has this sign-in link');
    if (found.status !== 'active') {
      throw new ForbiddenException(`Organisation ${found.slug} is suspended`);
    }
    return found;
  }

  private redirectUriFor(organization: Organization): string {
    return signInRedirectUri(this.redirectUri, organization);
  }

  /**
   * Whether `userid` (a member of `organization`'s corp: WeCom said so for its app) may sign in
   * to its console: the operator's list for the organisation; for `default`, CONSOLE_ADMINS and
   * the sandbox admin too, since those name members of the environment's corp, which is
   * default's. The same userid in another corp is someone else, so no list crosses over.
   */
  private isConsoleAdmin(organization: Organization, userid: string): boolean {
    const id = userid.toLowerCase();
    if (organization.id === DEFAULT_ORGANIZATION.id && this.admins.has(id)) return true;
    return organization.consoleAdmins.some((admin) => admin.toLowerCase() === id);
  }

  /** Console sign-in: the organisation's console admins only, as its admins. */
  private async consoleSession(
    organization: Organization,
    userid: string,
    platformUserId: string | undefined,
    target: string,
  ): Promise<string> {
    if (!this.isConsoleAdmin(organization, userid)) {
      this.logger.warn(
        `WeCom member ${userid} of ${organization.slug} tried to sign in to the admin console`,
      );
      const listed =
        organization.id === DEFAULT_ORGANIZATION.id
          ? 'Administrators are listed in CONSOLE_ADMINS or by the platform operator.'
          : "The platform operator lists this organisation's administrators.";
      throw new ForbiddenException(
        `Your WeCom account (${userid}) is not an administrator of this console for ${organization.name}. ${listed}`,
      );
    }
    const sub = consoleSubject(userid, platformUserId);
    const token = await this.jwt.sign(
      { id: sub, roles: ['admin'], organization: organization.slug },
      this.ttl,
    );
    this.logger.log(
      `WeCom member ${userid} signed in to the admin console of ${organization.slug} as ${sub}`,
    );
    return `${target}#token=${token}`;
  }

  private async memberFor(code: string): Promise<string> {
    let info;
    try {
      info = await this.client.getUserInfoByCode(code);
    } catch (error) {
      if (error instanceof WeComApiError && error.errcode === INVALID_CODE_ERRCODE) {
        throw new BadRequestException(
          'This WeCom authorisation code is invalid, expired or already used. Sign in again.',
          { cause: error },
        );
      }
      if (error instanceof WeComApiError) {
        throw new BadGatewayException('WeCom could not confirm who you are. Try again.', {
          cause: error,
        });
      }
      throw error;
    }
    if (!info.userid) {
      // openid / external_userid: a WeChat user or someone outside the corp.
      throw new ForbiddenException('Only members of our WeCom organisation can sign in here.');
    }
    return info.userid;
  }

  /**
   * A member nobody linked to a platform user. With AUTO_MAP_BY_EMAIL on we look at what WeCom
   * tells us about them, but: apps created after 2022-06-20 get no email from user/get, and
   * even with one, this service has no ShowMeBug user directory to find the platform user by
   * email, so the link still has to be made by an admin (POST /api/user-mappings, email works).
   */
  private async unmapped(userid: string): Promise<never> {
    const notLinked = `Your WeCom account (${userid}) is not linked to a ShowMeBug account yet. Ask an administrator to link it.`;
    if (!this.autoMapByEmail) throw new ForbiddenException(notLinked);
    let email: string | undefined;
    try {
      const member = await this.client.getUser(userid);
      const found = [member.email, member.biz_mail].find((v) => typeof v === 'string' && v);
      email = found as string | undefined;
    } catch (error) {
      if (!(error instanceof WeComApiError)) throw error;
    }
    throw new ForbiddenException(
      email
        ? `${notLinked} (Automatic linking by email is not available yet.)`
        : `${notLinked} (WeCom does not share your email address with this app, so it cannot be linked automatically.)`,
    );
  }

  private requireFrontend(): FrontendUrl {
    if (!this.frontend)
      throw new ServiceUnavailableException('WeCom sign-in is not configured (FRONTEND_URL).');
    this.requireConsole();
    return this.frontend;
  }

  /** The console needs no FRONTEND_URL (it is this service), only a key to sign tokens with. */
  private requireConsole(): FrontendUrl {
    if (!this.canMint) {
      throw new ServiceUnavailableException('WeCom sign-in is not configured (AUTH_JWT_SECRET).');
    }
    return this.console;
  }
}
