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
import { IS_PUBLIC } from './auth.decorators.js';
import type { AppConfigService } from '../config/app-config.js';
import type { RequestWithOrganization } from '../organizations/organization-scope.interceptor.js';
import { RateLimitStore, type RateLimitWindow } from './rate-limit.store.js';
import type { AuthUser } from './roles.js';

export const SKIP_RATE_LIMIT = 'rate-limit:skip';

/** For probes and scrapers (/health, /metrics): never limited. */
export const SkipRateLimit = () => SetMetadata(SKIP_RATE_LIMIT, true);

/**
 * Fixed-window request limits, two of them: per client address (a flood of bad tokens is limited
 * too) and per signed-in user (after authentication, `req.user` being the verified caller). A
 * window starts with a key's first request and lasts THROTTLE_TTL_S; counters live in the
 * RateLimitStore (PostgreSQL, shared by every instance, or this process's memory).
 *
 * One round trip per request: on a route that authenticates, the address is counted together
 * with the user, by the UserRateLimitGuard (both hits asked for side by side are one statement of
 * the store's group commit), instead of once before the AuthGuard and once after it. When the
 * AuthGuard refuses the request, it settles the address's count first (settleDeferredAddressLimit),
 * so a request over the address's limit gets its 429 whatever its token, as before.
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
    protected readonly reflector: Reflector,
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
    if (this.skips(context)) return true;
    const key = this.keyOf(context.switchToHttp().getRequest());
    if (key === null) return true;
    return this.count(context, key);
  }

  protected skips(context: ExecutionContext): boolean {
    return (
      this.reflector.getAllAndOverride<boolean | undefined>(SKIP_RATE_LIMIT, [
        context.getHandler(),
        context.getClass(),
      ]) === true
    );
  }

  /** Counts one request against `key`: true within the limit, else a 429 with Retry-After. */
  protected async count(context: ExecutionContext, key: string): Promise<boolean> {
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

/** The address's count, left on a request that authenticates for the guard after the AuthGuard. */
const DEFERRED_ADDRESS_COUNT = Symbol('deferred address count');

type WithDeferredCount = FastifyRequest & { [DEFERRED_ADDRESS_COUNT]?: () => Promise<boolean> };

/** Takes the address's deferred count off the request (so it runs once), if it has one. */
function takeDeferredAddressCount(req: WithDeferredCount): (() => Promise<boolean>) | undefined {
  const deferred = req[DEFERRED_ADDRESS_COUNT];
  delete req[DEFERRED_ADDRESS_COUNT];
  return deferred;
}

/**
 * For the AuthGuard, before it refuses a request: counts the address now if its count was left
 * for later, and throws the 429 when the address is over its limit (a forged token must not
 * get a free 401).
 */
export async function settleDeferredAddressLimit(req: FastifyRequest): Promise<void> {
  await takeDeferredAddressCount(req)?.();
}

/**
 * THROTTLE_IP_LIMIT (default 4 × THROTTLE_LIMIT: an office shares one address). Counted here on
 * public routes and requests without a bearer token; on the others the count is left on the
 * request for the UserRateLimitGuard (or the AuthGuard's refusal) to make with the user's.
 */
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

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    if (this.skips(context)) return true;
    const req = context.switchToHttp().getRequest<WithDeferredCount>();
    const key = this.keyOf(req);
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic || !req.headers.authorization) return this.count(context, key);
    req[DEFERRED_ADDRESS_COUNT] = () => this.count(context, key);
    return true;
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

  /** The user's count and the address's left for it, asked for together: one statement. */
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const address = takeDeferredAddressCount(context.switchToHttp().getRequest());
    const [addressCount, userCount] = await Promise.allSettled([
      address?.() ?? true,
      super.canActivate(context),
    ]);
    // The address's 429 first, as when it was counted before authentication.
    if (addressCount.status === 'rejected') throw addressCount.reason;
    if (userCount.status === 'rejected') throw userCount.reason;
    return userCount.value;
  }

  protected keyOf(
    req: FastifyRequest & { user?: AuthUser } & RequestWithOrganization,
  ): string | null {
    if (!req.user) return null;
    return `user:${req.organization?.id ?? 'operators'}:${req.user.id}`;
  }
}
