import { createHash, randomInt } from 'node:crypto';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * WeCom JS-SDK config signature ("JS-SDK使用权限签名算法"). The string is signed exactly as
 * written, without URL-encoding; the page URL loses its #fragment because the browser never
 * sends it and the JS-SDK signs `location.href.split('#')[0]`.
 */
export function jssdkSignature(
  ticket: string,
  nonceStr: string,
  timestamp: number | string,
  url: string,
): string {
  const hash = url.indexOf('#');
  const page = hash === -1 ? url : url.slice(0, hash);
  return createHash('sha1')
    .update(
      `jsapi_ticket=${ticket}&noncestr=${nonceStr}&timestamp=${timestamp}&url=${page}`,
      'utf8',
    )
    .digest('hex');
}

/** randomInt draws without modulo bias. */
export function newNonce(length = 16): string {
  if (!Number.isInteger(length) || length < 1 || length > 256) {
    throw new RangeError('Nonce length must be an integer from 1 to 256');
  }
  let nonce = '';
  for (let i = 0; i < length; i++) {
    nonce += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)];
  }
  return nonce;
}
