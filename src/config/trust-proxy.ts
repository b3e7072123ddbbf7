import { parseIpRange } from '../common/ip-range.js';

/**
 * A hop count (the n nearest hops are proxies, as Express's `trust proxy` reads it), or the
 * addresses of trusted proxies; app.setup.ts hands it to Fastify.
 */
export type TrustProxySetting = number | string[];

const NAMED = new Set(['loopback', 'linklocal', 'uniquelocal']);
const MAX_HOPS = 16;

export class TrustProxyError extends Error {
  override name = 'TrustProxyError';
}

/**
 * Reads TRUST_PROXY: a hop count (`1`), or a comma-separated list of `loopback`, `linklocal`,
 * `uniquelocal`, addresses and CIDR ranges (`10.0.0.0/8`). Unset trusts nobody, so no client
 * can choose the address the rate limiter sees by sending X-Forwarded-For. `true` (trust every
 * hop) is refused: the leftmost X-Forwarded-For entry is whatever the client wrote.
 */
export function parseTrustProxy(raw: string | undefined): TrustProxySetting | false {
  const value = raw?.trim() ?? '';
  if (value === '' || value === 'false') return false;
  if (value === 'true') {
    throw new TrustProxyError(
      'must name the proxies (a hop count, loopback, or addresses/CIDR ranges): true would trust any X-Forwarded-For a client sends',
    );
  }
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > MAX_HOPS) throw new TrustProxyError(`must be a hop count of at most ${MAX_HOPS}`);
    return hops;
  }
  const entries = value.split(',').map((entry) => entry.trim());
  for (const entry of entries) {
    if (!isTrustedProxyEntry(entry)) {
      throw new TrustProxyError(
        `must be a hop count or a comma-separated list of loopback, linklocal, uniquelocal, IP addresses and CIDR ranges (${JSON.stringify(entry.slice(0, 60))} is none of these)`,
      );
    }
  }
  return entries;
}

function isTrustedProxyEntry(entry: string): boolean {
  return NAMED.has(entry) || parseIpRange(entry) !== null;
}
