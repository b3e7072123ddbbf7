import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { Clock } from '../../common/clock.js';
import type { AppConfigService } from '../../config/app-config.js';
import { DEV_JWT_SECRET } from '../../config/env.validation.js';
import { OAuthStateEntity } from './oauth-state.entity.js';

export const STATE_TTL_SECONDS = 600;
const NONCE_BYTES = 16;
const MAC_BYTES = 16;
/** nonce (32 hex) | issued-at seconds (8 hex) | HMAC-SHA256 truncated to 128 bits (32 hex). */
const STATE_FORMAT = /^([0-9a-f]{32})([0-9a-f]{8})([0-9a-f]{32})$/;

/**
 * The OAuth `state`: 72 hex characters (WeCom allows [a-zA-Z0-9], at most 128 bytes), signed
 * with a key derived from AUTH_JWT_SECRET over the nonce, the issue time and the redirect.
 * The nonce and redirect are stored, and consuming deletes the row, so a state works once,
 * for ten minutes, and only for the redirect it was issued with; the redirect never comes
 * from the callback request.
 */
@Injectable()
export class OAuthStateService {
  private readonly key: Buffer;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: Clock,
    @Inject(ConfigService) config: AppConfigService,
  ) {
    const secret = config.get('AUTH_JWT_SECRET', { infer: true }) ?? DEV_JWT_SECRET;
    this.key = Buffer.from(hkdfSync('sha256', secret, '', 'showmebug-wecom/oauth-state/v1', 32));
  }

  /** A new state for `redirect` (a path under FRONTEND_URL, already checked). */
  async issue(redirect: string): Promise<string> {
    const now = this.clock.now();
    const nonce = randomBytes(NONCE_BYTES).toString('hex');
    const issued = Math.floor(now.getTime() / 1000)
      .toString(16)
      .padStart(8, '0');
    const repo = this.dataSource.getRepository(OAuthStateEntity);
    // Abandoned sign-ins leave rows behind; each new one clears the expired ones.
    await repo.createQueryBuilder().delete().where('expires_at < :now', { now }).execute();
    await repo.insert({
      nonce,
      redirect,
      createdAt: now,
      expiresAt: new Date(now.getTime() + STATE_TTL_SECONDS * 1000),
    });
    return `${nonce}${issued}${this.mac(nonce, issued, redirect)}`;
  }

  /** The redirect the state was issued for, or null if it is forged, expired or used. */
  async consume(state: unknown): Promise<string | null> {
    if (typeof state !== 'string') return null;
    const match = STATE_FORMAT.exec(state);
    if (!match) return null;
    const [, nonce, issued, mac] = match as unknown as [string, string, string, string];
    const nowMs = this.clock.nowMs();
    const age = nowMs / 1000 - parseInt(issued, 16);
    if (age < -60 || age > STATE_TTL_SECONDS) return null;

    const stored = await this.dataSource.getRepository(OAuthStateEntity).findOneBy({ nonce });
    if (!stored || stored.expiresAt.getTime() <= nowMs) return null;
    const expected = Buffer.from(this.mac(nonce, issued, stored.redirect), 'utf8');
    const given = Buffer.from(mac, 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;

    // Deleting is the single-use check: of two concurrent callbacks, one gets the row.
    const deleted = await this.dataSource
      .createQueryBuilder()
      .delete()
      .from(OAuthStateEntity)
      .where('nonce = :nonce', { nonce })
      .execute();
    return deleted.affected === 1 ? stored.redirect : null;
  }

  private mac(nonce: string, issued: string, redirect: string): string {
    return createHmac('sha256', this.key)
      .update(`${nonce}|${issued}|${redirect}`, 'utf8')
      .digest()
      .subarray(0, MAC_BYTES)
      .toString('hex');
  }
}
