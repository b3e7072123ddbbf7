import {
  type CanActivate,
  type ExecutionContext,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  SetMetadata,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { Clock } from '../common/clock.js';
import type { AppConfigService } from '../config/app-config.js';
import type { RequestWithOrganization } from '../organizations/organization-scope.interceptor.js';
import { RateLimitStore, type RateLimitWindow } from './rate-limit.store.js';
import type { AuthUser } from './roles.js';

export const SKIP_RATE_LIMIT = 'rate-limit:skip';

/** For probes and scrapers (/health, /metrics): never limited. */
export const SkipRateLimit = () => SetMetadata(SKIP_RATE_LIMIT, true);

/**
 * Fixed-window request limits, two of them: per client address (before authentication, so a
 * flood of bad tokens is limited too) and per signed-in user (after it, `req.user` being the
 * verified caller). A window starts with a key's first request and lasts THROTTLE_TTL_S;
 * counters live in the RateLimitStore (PostgreSQL, shared by every instance, or this
 * process's memory).
 *
 * When the store fails (the database is down), requests are let through with a warning: the
 * limits guard against floods, and refusing everything while the database is away would turn
 * its outage into a total one.
 *
 * Our own rather than @nestjs/throttler: that package is CommonJS requiring the ESM-only Nest 12,
 * which Node 20 runs but Jest's module runtime cannot load (require(esm) needs Node 24.9 there).
 */
abstract class FixedWindowGuard implements CanActivate {
  private readonly logger = new Logger('RateLimit');
  private lastWarnedAt = -Infinity;
  protected readonly ttlMs: number;
  protected abstract readonly limit: number;

  constructor(
    private readonly reflector: Reflector,
    private readonly clock: Clock,
    private readonly store: RateLimitStore,
    protected readonly config: AppConfigService,
  ) {
    this.ttlMs = config.get('THROTTLE_TTL_S', { infer: true }) * 1000;
  }

  /** The counter this request goes to; null for none. */
  protected abstract keyOf(req: FastifyRequest & { user?: AuthUser }): string | null;

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const skip = this.reflector.getAllAndOverride<boolean | undefined>(SKIP_RATE_LIMIT, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (skip) return true;
    const key = this.keyOf(context.switchToHttp().getRequest());
    if (key === null) return true;
    const now = this.clock.nowMs();
    let window: RateLimitWindow;
    try {
      window = await this.store.hit(key, now, this.ttlMs);
    } catch (error) {
      this.warnOpen(now, error as Error);
      return true;
    }
    if (window.count <= this.limit) return true;
    // Clamped to the window: another instance may have started it a moment after our `now`.
    const retryAfter = Math.min(
      this.ttlMs / 1000,
      Math.max(1, Math.ceil((window.startedAt + this.ttlMs - now) / 1000)),
    );
    context.switchToHttp().getResponse<FastifyReply>().header('Retry-After', String(retryAfter));
    throw new HttpException(
      { message: `Too many requests; retry after ${retryAfter} s`, retryAfter },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }

  /** At most one warning a minute while the store fails. */
  private warnOpen(now: number, error: Error): void {
    if (now - this.lastWarnedAt < 60_000) return;
    this.lastWarnedAt = now;
    this.logger.warn(
      `rate-limit store (${this.store.kind}) failed, requests are let through unlimited: ${error.message}`,
    );
  }
}

/** THROTTLE_IP_LIMIT (default 4 × THROTTLE_LIMIT: an office shares one address). */
@Injectable()
export class AddressRateLimitGuard extends FixedWindowGuard {
  protected readonly limit: number;

  constructor(
    reflector: Reflector,
    clock: Clock,
    store: RateLimitStore,
    @Inject(ConfigService) config: AppConfigService,
  ) {
    super(reflector, clock, store, config);
    this.limit =
      config.get('THROTTLE_IP_LIMIT', { infer: true }) ??
      config.get('THROTTLE_LIMIT', { infer: true }) * 4;
  }

  protected keyOf(req: FastifyRequest): string {
    return `ip:${req.ip ?? 'unknown'}`;
  }
}

/**
 * THROTTLE_LIMIT per signed-in user of an organisation; public routes have none. The key holds
 * the organisation the AuthGuard resolved (its id, however the token named it): platform user
 * ids are the companies' own, and the same id in two organisations is two people. Operators
 * belong to none.
 */
@Injectable()
export class UserRateLimitGuard extends FixedWindowGuard {
  protected readonly limit: number;

  constructor(
    reflector: Reflector,
    clock: Clock,
    store: RateLimitStore,
    @Inject(ConfigService) config: AppConfigService,
  ) {
    super(reflector, clock, store, config);
    this.limit = config.get('THROTTLE_LIMIT', { infer: true });
  }

  protected keyOf(
    req: FastifyRequest & { user?: AuthUser } & RequestWithOrganization,
  ): string | null {
    if (!req.user) return null;
    return `user:${req.organization?.id ?? 'operators'}:${req.user.id}`;
  }
}
