import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

import { HttpService } from '@nestjs/axios';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AxiosError, type AxiosResponse } from 'axios';
import { firstValueFrom } from 'rxjs';

import type { AppConfigService } from '../../config/app-config.js';
import { MetricsService } from '../../metrics/metrics.service.js';
import { WeComSettings, type WeComCredentials } from '../wecom-settings.js';
import { WeComApiError } from './wecom-api.error.js';
import {
  backoffDelayMs,
  decideOnErrcode,
  decideOnTransport,
  DEFAULT_BACKOFF,
  GETTOKEN_PATH,
  type BackoffSettings,
} from './wecom-retry-policy.js';
import type {
  GetTokenResponse,
  SendMessageRequest,
  SendMessageResponse,
  TicketResponse,
  UpdateTemplateCardRequest,
  UserIdResponse,
  UserInfoByCodeResponse,
  UserResponse,
  WeComAttempt,
  WeComResponse,
} from './wecom.types.js';

/** Gives the client a token and takes back one WeCom refused (AccessTokenProvider). */
export interface TokenSource {
  getToken(): Promise<string>;
  invalidate(token: string): Promise<void>;
}

export interface CallOptions {
  /** Told of every HTTP attempt, so the message history can record each one. */
  onAttempt?: (attempt: WeComAttempt) => void;
  /** Overrides the client's backoff (the dispatcher retries across polls instead). */
  backoff?: Partial<BackoffSettings>;
}

interface Request {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string>;
  body?: unknown;
}

/**
 * The only code that speaks HTTP to WeCom. Checks errcode once, applies the retry policy
 * (wecom-retry-policy.ts) once, and never lets the access token or secret reach a log line
 * or an error message.
 */
@Injectable()
export class WeComClient {
  private readonly logger = new Logger(WeComClient.name);
  private tokens?: TokenSource;
  private readonly timeoutMs: number;
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });
  /** Tests shorten the delays; production keeps the defaults. */
  backoff: BackoffSettings = DEFAULT_BACKOFF;

  constructor(
    private readonly http: HttpService,
    private readonly settings: WeComSettings,
    @Inject(ConfigService) config: AppConfigService,
    private readonly metrics: MetricsService,
  ) {
    this.timeoutMs = config.get('WECOM_HTTP_TIMEOUT_MS', { infer: true });
  }

  /** AccessTokenProvider registers itself here; it needs this client for gettoken. */
  attachTokenSource(tokens: TokenSource): void {
    this.tokens = tokens;
  }

  // --- unauthenticated -----------------------------------------------------------------

  /** gettoken: never retried on a credential error (repeated wrong secrets get the IP banned). */
  fetchAccessToken(creds: WeComCredentials, options?: CallOptions): Promise<GetTokenResponse> {
    return this.execute<GetTokenResponse>(
      {
        method: 'GET',
        path: GETTOKEN_PATH,
        query: { corpid: creds.corpId, corpsecret: creds.corpSecret },
      },
      undefined,
      options,
    );
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

  private authenticated<T extends WeComResponse>(req: Request, options?: CallOptions): Promise<T> {
    if (!this.tokens) throw new Error('WeComClient has no token source');
    return this.execute<T>(req, this.tokens, options);
  }

  // --- the one request loop -------------------------------------------------------------

  private async execute<T extends WeComResponse>(
    req: Request,
    tokens: TokenSource | undefined,
    options: CallOptions = {},
  ): Promise<T> {
    const backoff = { ...this.backoff, ...options.backoff };
    let retries = 0;
    let tokenRefreshed = false;
    for (;;) {
      const token = tokens ? await tokens.getToken() : undefined;
      const startedAt = new Date();
      const started = performance.now();
      let response: AxiosResponse<unknown> | undefined;
      let failure:
        { httpStatus?: number; code?: string; message: string; cause?: unknown } | undefined;
      try {
        response = await this.send(req, token);
        if (response.status !== 200) {
          failure = { httpStatus: response.status, message: `HTTP ${response.status}` };
        } else if (!isWeComResponse(response.data)) {
          failure = { httpStatus: 200, message: 'response is not a WeCom JSON answer' };
        }
      } catch (error) {
        const code = error instanceof AxiosError ? (error.code ?? 'ERR_NETWORK') : 'ERR_UNKNOWN';
        // The axios error holds the request config, query string and token included: keep
        // only its code and message as the cause.
        const cause = { code, message: error instanceof Error ? error.message : String(error) };
        failure = {
          code,
          message: code === 'ECONNABORTED' ? 'timed out' : `network error (${code})`,
          cause,
        };
      }
      const latencyMs = Math.round(performance.now() - started);
      this.observe(req.path, latencyMs, failure ? 'transport' : (response!.data as T).errcode);

      if (failure) {
        options.onAttempt?.({
          path: req.path,
          startedAt,
          latencyMs,
          errcode: null,
          errmsg: failure.message,
          httpStatus: failure.httpStatus,
        });
        const decision = failure.httpStatus === 200 ? 'fail' : decideOnTransport(failure);
        if (decision === 'backoff' && retries < backoff.maxRetries) {
          await sleep(backoffDelayMs(retries++, backoff));
          continue;
        }
        this.logger.warn(`${req.method} ${req.path} failed: ${failure.message}`);
        throw new WeComApiError(req.path, null, failure.message, decision === 'backoff', failure, {
          cause: failure.cause,
        });
      }

      const data = response!.data as T;
      options.onAttempt?.({
        path: req.path,
        startedAt,
        latencyMs,
        errcode: data.errcode,
        errmsg: data.errmsg ?? '',
        httpStatus: 200,
      });
      if (data.errcode === 0) return data;

      const decision = decideOnErrcode(data.errcode, req.path);
      if (decision === 'refresh-token' && tokens && token && !tokenRefreshed) {
        tokenRefreshed = true;
        await tokens.invalidate(token);
        continue;
      }
      if (decision === 'backoff' && retries < backoff.maxRetries) {
        await sleep(backoffDelayMs(retries++, backoff));
        continue;
      }
      throw new WeComApiError(
        req.path,
        data.errcode,
        String(data.errmsg ?? ''),
        decision !== 'fail',
        undefined,
        {
          cause: { errcode: data.errcode, errmsg: data.errmsg },
        },
      );
    }
  }

  private observe(path: string, latencyMs: number, errcode: number | 'transport'): void {
    this.metrics.wecomCalls.inc({ path, errcode: String(errcode) });
    this.metrics.wecomLatency.observe({ path }, latencyMs / 1000);
    if (path === GETTOKEN_PATH) this.metrics.gettokenCalls.inc();
  }

  private send(req: Request, token: string | undefined): Promise<AxiosResponse<unknown>> {
    const params: Record<string, string> = { ...req.query };
    if (token) params.access_token = token;
    return firstValueFrom(
      this.http.request({
        method: req.method,
        baseURL: this.settings.baseUrl,
        url: req.path,
        params,
        data: req.body,
        timeout: this.timeoutMs,
        httpAgent: this.httpAgent,
        httpsAgent: this.httpsAgent,
        // WeCom answers errors with HTTP 200; anything else is handled above, not thrown.
        validateStatus: () => true,
        headers:
          req.body !== undefined ? { 'content-type': 'application/json; charset=utf-8' } : {},
        responseType: 'json',
        transitional: {
          silentJSONParsing: true,
          forcedJSONParsing: true,
          clarifyTimeoutError: false,
        },
      }),
    );
  }
}

function isWeComResponse(data: unknown): data is WeComResponse {
  return (
    typeof data === 'object' && data !== null && typeof (data as WeComResponse).errcode === 'number'
  );
}
