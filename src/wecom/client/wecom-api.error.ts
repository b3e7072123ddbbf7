/**
 * A failed WeCom call. `errcode` is WeCom's own code; transport failures (timeouts, resets,
 * HTTP 5xx) have `errcode: null` and say what happened in `transport`. Never carries the
 * access token or the secret: `path` is the API path without its query string.
 */
export class WeComApiError extends Error {
  override name = 'WeComApiError';

  constructor(
    readonly path: string,
    readonly errcode: number | null,
    readonly errmsg: string,
    readonly retryable: boolean,
    readonly transport?: { httpStatus?: number; code?: string },
    options?: { cause?: unknown },
  ) {
    super(
      errcode !== null
        ? `WeCom ${path} failed: errcode ${errcode} (${shorten(errmsg)})`
        : `WeCom ${path} failed: ${errmsg}`,
      options,
    );
  }
}

/** WeCom errmsg carries a hint, the caller's IP and a link; keep the first clause. */
function shorten(errmsg: string): string {
  const head = errmsg.split(/,\s*hint:/)[0] ?? errmsg;
  return head.length > 120 ? `${head.slice(0, 117)}...` : head;
}
