/** Query parameters and JSON fields that must never reach a log line or an error message. */
const SECRET_KEYS = ['access_token', 'corpsecret', 'secret', 'token', 'ticket', 'code', 'echostr'];

const QUERY_PATTERN = new RegExp(`([?&](?:${SECRET_KEYS.join('|')})=)[^&#\\s"']*`, 'gi');

/** Replaces secret query parameters in a URL or any text that embeds one. */
export function redactUrl(text: string): string {
  return text.replace(QUERY_PATTERN, '$1***');
}

/** Object keys whose values never reach a log line (Nest's logger masks them at any depth). */
export const SECRET_FIELDS = [
  'access_token',
  'accessToken',
  'corpsecret',
  'secret',
  'token',
  'ticket',
  'password',
  'authorization',
  'encodingAESKey',
  'aesKey',
  'callbackToken',
] as const;

/** Shows that a secret is set without showing it: "set (…ab12)". */
export function maskSecret(value: string | undefined | null): string {
  if (!value) return 'unset';
  return value.length <= 8 ? 'set' : `set (…${value.slice(-4)})`;
}
