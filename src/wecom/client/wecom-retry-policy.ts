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
