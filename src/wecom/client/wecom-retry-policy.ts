/**
 * The WeCom retry policy, in one place (see shared/wecom-api.md, "Error codes and what to do").
 *
 * - `refresh-token`: the token is bad, expired or missing: drop it, fetch another, retry once.
 * - `backoff`: WeCom is busy or throttling, or the network failed: retry after a bounded,
 *   jittered exponential delay.
 * - `fail`: everything else fails at once with its errcode (bad body, bad user, bad config).
 */
export type RetryDecision = 'refresh-token' | 'backoff' | 'fail';

export const GETTOKEN_PATH = '/cgi-bin/gettoken';

const TOKEN_ERRCODES = new Set([40014, 42001, 41001]);
const BACKOFF_ERRCODES = new Set([-1, 45009, 45033]);
/** Errcodes that mean an admin must fix the corp id, secret or app settings. */
export const CONFIG_ERRCODES = new Set([
  40001, 40013, 40056, 40091, 41002, 41004, 48002, 60011, 60020, 301002,
]);

/**
 * user/get's answer for a member outside the app's visible range (可见范围); WeCom lists such a
 * member in a send's `invaliduser`. Said the same way wherever we meet it.
 */
export const OUTSIDE_VISIBLE_RANGE = 60011;
export const OUTSIDE_VISIBLE_RANGE_ADVICE =
  "outside the app's visible range (可见范围): add the member or their department to the app's visible range in the WeCom admin console";

export function decideOnErrcode(errcode: number, path: string): RetryDecision {
  if (TOKEN_ERRCODES.has(errcode)) return path === GETTOKEN_PATH ? 'fail' : 'refresh-token';
  // 40001 from gettoken is a wrong secret; from any other call it is a token WeCom no longer
  // accepts (e.g. after the secret was reset), so one refetch is worth it.
  if (errcode === 40001) return path === GETTOKEN_PATH ? 'fail' : 'refresh-token';
  if (BACKOFF_ERRCODES.has(errcode)) return 'backoff';
  return 'fail';
}

export function decideOnTransport(failure: { httpStatus?: number; code?: string }): RetryDecision {
  if (failure.httpStatus !== undefined)
    return failure.httpStatus >= 500 || failure.httpStatus === 429 ? 'backoff' : 'fail';
  return 'backoff';
}

export interface BackoffSettings {
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = {
  maxRetries: 3,
  baseDelayMs: 200,
  maxDelayMs: 5000,
};

/** "Full jitter": a random delay up to base·2^retry, capped. `retry` counts from 0. */
export function backoffDelayMs(
  retry: number,
  settings: BackoffSettings,
  random = Math.random,
): number {
  const ceiling = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** retry);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * After WeCom refuses the deployment's credentials or settings, wait this long before asking
 * again: WeCom bans addresses that keep presenting a wrong secret. An admin's change of the
 * configuration ends the wait at once.
 */
export const CREDENTIALS_REJECTED_PAUSE_MS = 60_000;

/**
 * True when the error is the deployment's, not the request's: a wrong corp id or secret, an
 * app not allowed the API, an address not in the trusted IPs (60020)... An admin must act, and
 * whatever was being sent should wait for that rather than fail. 40001 counts only from
 * gettoken (elsewhere it is a stale token, refetched once).
 */
export function isCredentialsRejected(error: { errcode: number | null; path: string }): boolean {
  if (error.errcode === null || !CONFIG_ERRCODES.has(error.errcode)) return false;
  return error.errcode !== 40001 || error.path === GETTOKEN_PATH;
}

/** The address WeCom saw, from an errmsg such as "..., from ip: 1.2.3.4, more info at ...". */
export function callerIpFromErrmsg(errmsg: string): string | null {
  const match = /from ip: ?([0-9a-fA-F.:]+)/.exec(errmsg);
  return match ? match[1] : null;
}

/** What the admin should do about a refused call, in plain words. */
export function credentialsAdvice(errcode: number, errmsg: string): string {
  switch (errcode) {
    case 60020: {
      const ip = callerIpFromErrmsg(errmsg);
      return (
        `WeCom refuses calls from this service's address${ip ? ` (it saw ${ip})` : ''}: add ` +
        `${ip ?? 'the address'} to the app's trusted IPs (企业可信IP) in the WeCom admin console`
      );
    }
    case 40001:
    case 40091:
    case 41004:
      return "WeCom rejected the app Secret: set the app's current Secret (WECOM_CORP_SECRET, or corpSecret in /api/admin/config)";
    case 40013:
    case 41002:
      return 'WeCom rejected the corp id: set the CorpID shown under My Company in the WeCom admin console (WECOM_CORP_ID, or corpId in /api/admin/config)';
    case 40056:
    case 301002:
      return 'WeCom rejected the AgentId: set the AgentId of the app whose Secret is configured (WECOM_AGENT_ID, or agentId in /api/admin/config)';
    case 48002:
      return 'The app is not allowed this API: grant it in the WeCom admin console';
    default:
      return `WeCom refused the app's configuration (errcode ${errcode}): check corp id, AgentId, Secret and the app's permissions`;
  }
}
