import { Injectable } from '@nestjs/common';

import type { WeComCredentials } from '../wecom-settings.js';
import { TokenSource } from './token-source.js';
import { WeComHttp, type CallOptions, type WeComRequest } from './wecom-http.js';
import type { BackoffSettings } from './wecom-retry-policy.js';
import type {
  GetTokenResponse,
  SendMessageRequest,
  SendMessageResponse,
  TicketResponse,
  UpdateTemplateCardRequest,
  UserIdResponse,
  UserInfoByCodeResponse,
  UserResponse,
  WeComResponse,
} from './wecom.types.js';

export type { CallOptions } from './wecom-http.js';

/**
 * WeCom's API as the app calls it, each call with the access token (from the TokenSource) and
 * made by WeComHttp, the one request loop. Services never build WeCom URLs: they call this.
 */
@Injectable()
export class WeComClient {
  constructor(
    private readonly http: WeComHttp,
    private readonly tokens: TokenSource,
  ) {}

  /** The retry delays of every call (WeComHttp's). Tests shorten them. */
  get backoff(): BackoffSettings {
    return this.http.backoff;
  }

  set backoff(value: BackoffSettings) {
    this.http.backoff = value;
  }

  // --- unauthenticated -----------------------------------------------------------------

  /**
   * gettoken with the given credentials, outside the token provider: an admin's new
   * credentials are tried this way before they are saved.
   */
  fetchAccessToken(creds: WeComCredentials, options?: CallOptions): Promise<GetTokenResponse> {
    return this.http.fetchAccessToken(creds, options);
  }

  // --- authenticated ---------------------------------------------------------------------

  sendMessage(body: SendMessageRequest, options?: CallOptions): Promise<SendMessageResponse> {
    return this.authenticated({ method: 'POST', path: '/cgi-bin/message/send', body }, options);
  }

  recallMessage(msgid: string, options?: CallOptions): Promise<WeComResponse> {
    return this.authenticated(
      { method: 'POST', path: '/cgi-bin/message/recall', body: { msgid } },
      options,
    );
  }

  updateTemplateCard(
    body: UpdateTemplateCardRequest,
    options?: CallOptions,
  ): Promise<WeComResponse & { invaliduser?: string[] }> {
    return this.authenticated(
      { method: 'POST', path: '/cgi-bin/message/update_template_card', body },
      options,
    );
  }

  getUser(userid: string, options?: CallOptions): Promise<UserResponse> {
    return this.authenticated(
      { method: 'GET', path: '/cgi-bin/user/get', query: { userid } },
      options,
    );
  }

  getUserIdByMobile(mobile: string, options?: CallOptions): Promise<UserIdResponse> {
    return this.authenticated(
      { method: 'POST', path: '/cgi-bin/user/getuserid', body: { mobile } },
      options,
    );
  }

  getUserIdByEmail(
    email: string,
    emailType: 1 | 2 = 1,
    options?: CallOptions,
  ): Promise<UserIdResponse> {
    return this.authenticated(
      {
        method: 'POST',
        path: '/cgi-bin/user/get_userid_by_email',
        body: { email, email_type: emailType },
      },
      options,
    );
  }

  getUserInfoByCode(code: string, options?: CallOptions): Promise<UserInfoByCodeResponse> {
    return this.authenticated(
      { method: 'GET', path: '/cgi-bin/auth/getuserinfo', query: { code } },
      options,
    );
  }

  getCorpJsapiTicket(options?: CallOptions): Promise<TicketResponse> {
    return this.authenticated({ method: 'GET', path: '/cgi-bin/get_jsapi_ticket' }, options);
  }

  getAgentJsapiTicket(options?: CallOptions): Promise<TicketResponse> {
    return this.authenticated(
      { method: 'GET', path: '/cgi-bin/ticket/get', query: { type: 'agent_config' } },
      options,
    );
  }

  private authenticated<T extends WeComResponse>(
    req: WeComRequest,
    options?: CallOptions,
  ): Promise<T> {
    return this.http.request<T>(req, this.tokens, options);
  }
}
