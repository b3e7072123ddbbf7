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
import type { TokenSource } from './token-source.js';
import type { GetTokenResponse, WeComAttempt, WeComResponse } from './wecom.types.js';

export interface CallOptions {
  /** Told of every HTTP attempt, so the message history can record each one. */
  onAttempt?: (attempt: WeComAttempt) => void;
  /** Overrides the client's backoff (the dispatcher retries across polls instead). */
  backoff?: Partial<BackoffSettings>;
}

/** One WeCom call; the access token, when the call needs one, is added by `request`. */
export interface WeComRequest {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string>;
  body?: unknown;
}

/**
 * The only code that speaks HTTP to WeCom: one request loop that checks errcode once, applies
 * the retry policy (wecom-retry-policy.ts) once, and never lets the access token or secret reach
 * a log line or an error message. gettoken is here, below the token provider that calls it;
 * WeComClient (the API the app calls) sits above both and gets its tokens from that provider.
 *
 * Several organisations' corps share it, so it keeps no WeCom limit or retry state between
 * calls: a backoff (45009, 45033, -1) is the waiting of the one call that met it, and the token
 * a call uses is its organisation's (the TokenSource reads the scope). One corp's throttling
 * never delays another corp's calls; the only thing they share is the connection pool below.
 */
@Injectable()
export class WeComHttp {
  private readonly logger = new Logger(WeComHttp.name);
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

  /** gettoken: never retried on a credential error (repeated wrong secrets get the IP banned). */
  fetchAccessToken(creds: WeComCredentials, options?: CallOptions): Promise<GetTokenResponse> {
    return this.request<GetTokenResponse>(
      {
        method: 'GET',
        path: GETTOKEN_PATH,
        query: { corpid: creds.corpId, corpsecret: creds.corpSecret },
      },
      undefined,
      options,
    );
  }

  // --- the one request loop -------------------------------------------------------------

  /**
   * One call, with a token from `tokens` when given: a token WeCom calls bad (40014/42001) is
   * handed back once and the call made again with a new one.
   */
  async request<T extends WeComResponse>(
    req: WeComRequest,
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

  private send(req: WeComRequest, token: string | undefined): Promise<AxiosResponse<unknown>> {
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
