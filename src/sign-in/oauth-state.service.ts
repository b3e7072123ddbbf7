import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

import { Clock } from '../common/clock.js';
import { organizationScope } from '../common/organization-scope.js';
import type { AppConfigService } from '../config/app-config.js';
import { DEV_JWT_SECRET } from '../config/env.validation.js';
import { OAuthStatesRepository } from './oauth-states.repository.js';

export const STATE_TTL_SECONDS = 600;
const NONCE_BYTES = 16;
const MAC_BYTES = 16;
/**
 * nonce (32 hex) | issued-at seconds (8 hex) | HMAC-SHA256 truncated to 128 bits (32 hex) |
 * browser tag: HMAC over the nonce and the browser's sign-in cookie, same size (32 hex).
 */
const STATE_FORMAT = /^([0-9a-f]{32})([0-9a-f]{8})([0-9a-f]{32})([0-9a-f]{32})$/;

export type ConsumedState =
  | { ok: true; redirect: string }
  /** `browser`: a genuine state, but this browser did not start it (no or another cookie). */
  | { ok: false; reason: 'invalid' | 'browser' };

/**
 * The OAuth `state`: 104 hex characters (WeCom allows [a-zA-Z0-9], at most 128 bytes), signed
 * with a key derived from AUTH_JWT_SECRET over the organisation, the nonce, the issue time and the
 * redirect, and committing to the random value of the sign-in cookie of the browser that asked for
 * it (so a state is worthless in another browser: login CSRF). The nonce and redirect are stored
 * in the organisation's `oauth_states`, and consuming deletes the row, so a state works once, for
 * ten minutes, in one browser, in the organisation it was issued for (another's callback neither
 * finds the row nor accepts the signature), and only for the redirect it was issued with; the
 * redirect never comes from the callback request.
 *
 * Both run in the organisation's scope (organizationScope), which they read for the signature.
 */
@Injectable()
export class OAuthStateService {
  private readonly key: Buffer;

  constructor(
    private readonly states: OAuthStatesRepository,
    private readonly clock: Clock,
    @Inject(ConfigService) config: AppConfigService,
  ) {
    const secret = config.get('AUTH_JWT_SECRET', { infer: true }) ?? DEV_JWT_SECRET;
    this.key = Buffer.from(hkdfSync('sha256', secret, '', 'showmebug-wecom/oauth-state/v1', 32));
  }

  /**
   * A new state for `redirect` (a path under FRONTEND_URL, already checked), bound to the
   * browser whose sign-in cookie holds `browser`.
   */
  async issue(redirect: string, browser: string): Promise<string> {
    const now = this.clock.now();
    const nonce = randomBytes(NONCE_BYTES).toString('hex');
    const issued = Math.floor(now.getTime() / 1000)
      .toString(16)
      .padStart(8, '0');
    await this.states.deleteExpired(now);
    await this.states.insert({
      nonce,
      redirect,
      createdAt: now,
      expiresAt: new Date(now.getTime() + STATE_TTL_SECONDS * 1000),
    });
    return `${nonce}${issued}${this.mac(nonce, issued, redirect)}${this.browserTag(nonce, browser)}`;
  }

  /**
   * The redirect the state was issued for, if it is genuine, fresh, unused and this browser
   * (`browser`: its sign-in cookie, undefined when it sent none) started it. A state refused
   * for the browser is not used up.
   */
  async consume(state: unknown, browser: string | undefined): Promise<ConsumedState> {
    const invalid = { ok: false, reason: 'invalid' } as const;
    if (typeof state !== 'string') return invalid;
    const match = STATE_FORMAT.exec(state);
    if (!match) return invalid;
    const [, nonce, issued, mac, tag] = match as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    const nowMs = this.clock.nowMs();
    const age = nowMs / 1000 - parseInt(issued, 16);
    if (age < -60 || age > STATE_TTL_SECONDS) return invalid;

    const stored = await this.states.findByNonce(nonce);
    if (!stored || stored.expiresAt.getTime() <= nowMs) return invalid;
    if (!sameHex(mac, this.mac(nonce, issued, stored.redirect))) return invalid;
    if (browser === undefined || !sameHex(tag, this.browserTag(nonce, browser))) {
      return { ok: false, reason: 'browser' };
    }

    // Deleting is the single-use check: of two concurrent callbacks, one gets the row.
    return (await this.states.delete(nonce)) ? { ok: true, redirect: stored.redirect } : invalid;
  }

  private browserTag(nonce: string, browser: string): string {
    return createHmac('sha256', this.key)
      .update(`browser|${nonce}|${browser}`, 'utf8')
      .digest()
      .subarray(0, MAC_BYTES)
      .toString('hex');
  }

  private mac(nonce: string, issued: string, redirect: string): string {
    const organization = organizationScope.get();
    if (!organization) throw new Error('OAuth states are issued and consumed in an organisation');
    return createHmac('sha256', this.key)
      .update(`${organization.id}|${nonce}|${issued}|${redirect}`, 'utf8')
      .digest()
      .subarray(0, MAC_BYTES)
      .toString('hex');
  }
}

/** Constant-time comparison of two hex strings. */
function sameHex(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
