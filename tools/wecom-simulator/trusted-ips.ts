import { BlockList, isIP } from 'node:net';

import { parseIpRange } from '../../src/common/ip-range.js';

export class TrustedIpsError extends Error {
  override name = 'TrustedIpsError';
}

/**
 * The app's trusted IPs (企业可信IP): apps created since 2022 refuse API calls from any other
 * address with errcode 60020. `null` (the default) allows every address, like an app whose list
 * is not enforced. Entries are addresses or CIDR ranges, IPv4 or IPv6.
 */
export class TrustedIps {
  private entries: string[] | null = null;
  private list = new BlockList();

  /** Replaces the list; null or an empty list switches the check off. Throws on a bad entry. */
  set(entries: readonly string[] | null): void {
    if (entries === null || entries.length === 0) {
      this.entries = null;
      this.list = new BlockList();
      return;
    }
    const list = new BlockList();
    const kept: string[] = [];
    for (const raw of entries) {
      const entry = String(raw).trim();
      if (entry === '') continue;
      const range = parseIpRange(entry);
      if (!range) {
        throw new TrustedIpsError(
          `not an IP address, or a CIDR range with a valid prefix length: ${JSON.stringify(entry)}`,
        );
      }
      const type = range.family === 4 ? 'ipv4' : 'ipv6';
      if (range.bits === undefined) list.addAddress(range.address, type);
      else list.addSubnet(range.address, range.bits, type);
      kept.push(entry);
    }
    this.entries = kept.length > 0 ? kept : null;
    this.list = list;
  }

  /** The list as given, or null when every address is allowed. */
  get(): string[] | null {
    return this.entries ? [...this.entries] : null;
  }

  allows(ip: string): boolean {
    if (this.entries === null) return true;
    const family = isIP(ip);
    if (family === 0) return false;
    return this.list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** SIMULATOR_TRUSTED_IPS: a comma list; unset or blank means every address is allowed. */
export function parseTrustedIpsVariable(raw: string | undefined): string[] | null {
  if (raw === undefined || raw.trim() === '') return null;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
