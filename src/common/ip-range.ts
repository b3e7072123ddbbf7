import { isIP } from 'node:net';

/** An IP address (`bits` undefined) or CIDR range, IPv4 or IPv6. */
export interface IpRange {
  address: string;
  family: 4 | 6;
  bits?: number;
}

/** Reads `1.2.3.4`, `10.0.0.0/8`, `::1` or `fd00::/8`; null for anything else. */
export function parseIpRange(entry: string): IpRange | null {
  const [address, prefix, extra] = entry.split('/');
  const family = isIP(address) as 0 | 4 | 6;
  if (family === 0 || extra !== undefined) return null;
  if (prefix === undefined) return { address, family };
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (!(bits >= 0 && bits <= (family === 4 ? 32 : 128))) return null;
  return { address, family, bits };
}
