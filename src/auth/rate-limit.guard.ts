import {
  type CanActivate,
  type ExecutionContext,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  SetMetadata,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';

import { Clock } from '../common/clock.js';
import type { AppConfigService } from '../config/app-config.js';
import type { AuthUser } from './roles.js';

const SKIP_RATE_LIMIT = 'rate-limit:skip';

/** For probes and scrapers (/health, /metrics): never limited. */
export const SkipRateLimit = () => SetMetadata(SKIP_RATE_LIMIT, true);

interface Window {
  startedAt: number;
  count: number;
}

/** Counters kept between sweeps; past this many, old windows are dropped at once. */
const MAX_KEYS = 100_000;

/**
 * Fixed-window request limits, two of them: per client address (before authentication, so a
 * flood of bad tokens is limited too) and per signed-in user (after it, `req.user` being the
 * verified caller). Counters live in each instance's memory, so N instances admit up to N times
 * the limit.
 *
 * Our own rather than @nestjs/throttler: that package is CommonJS requiring the ESM-only Nest 12,
 * which Node 20 runs but Jest's module runtime cannot load (require(esm) needs Node 24.9 there).
 */
abstract class FixedWindowGuard implements CanActivate {
  private readonly windows = new Map<string, Window>();
  protected readonly ttlMs: number;
  protected abstract readonly limit: number;

  constructor(
    private readonly reflector: Reflector,
    private readonly clock: Clock,
    protected readonly config: AppConfigService,
  ) {
    this.ttlMs = config.get('THROTTLE_TTL_S', { infer: true }) * 1000;
  }

  /** The counter this request goes to; null for none. */
  protected abstract keyOf(req: Request & { user?: AuthUser }): string | null;

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const skip = this.reflector.getAllAndOverride<boolean | undefined>(SKIP_RATE_LIMIT, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (skip) return true;
    const key = this.keyOf(context.switchToHttp().getRequest());
    if (key === null) return true;
    const now = this.clock.nowMs();
    const window = this.count(key, now);
    if (window.count <= this.limit) return true;
    const retryAfter = Math.max(1, Math.ceil((window.startedAt + this.ttlMs - now) / 1000));
    context.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(retryAfter));
    throw new HttpException(
      `Too many requests; retry after ${retryAfter} s`,
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }

  private count(key: string, now: number): Window {
    let window = this.windows.get(key);
    if (!window || now - window.startedAt >= this.ttlMs) {
      if (!window && this.windows.size >= MAX_KEYS) this.sweep(now);
      window = { startedAt: now, count: 0 };
      this.windows.set(key, window);
    }
    window.count++;
    return window;
  }

  private sweep(now: number): void {
    for (const [key, window] of this.windows) {
      if (now - window.startedAt >= this.ttlMs) this.windows.delete(key);
    }
    // Still full (a flood of distinct addresses): forget the oldest half rather than grow.
    if (this.windows.size >= MAX_KEYS) {
      let drop = this.windows.size / 2;
      for (const key of this.windows.keys()) {
        if (drop-- <= 0) break;
        this.windows.delete(key);
      }
    }
  }
}

/** THROTTLE_IP_LIMIT (default 4 × THROTTLE_LIMIT: an office shares one address). */
@Injectable()
export class AddressRateLimitGuard extends FixedWindowGuard {
  protected readonly limit: number;

  constructor(reflector: Reflector, clock: Clock, @Inject(ConfigService) config: AppConfigService) {
    super(reflector, clock, config);
    this.limit =
      config.get('THROTTLE_IP_LIMIT', { infer: true }) ??
      config.get('THROTTLE_LIMIT', { infer: true }) * 4;
  }

  protected keyOf(req: Request): string {
    return `ip:${req.ip ?? 'unknown'}`;
  }
}

/** THROTTLE_LIMIT per signed-in user; public routes have none. */
@Injectable()
export class UserRateLimitGuard extends FixedWindowGuard {
  protected readonly limit: number;

  constructor(reflector: Reflector, clock: Clock, @Inject(ConfigService) config: AppConfigService) {
    super(reflector, clock, config);
    this.limit = config.get('THROTTLE_LIMIT', { infer: true });
  }

  protected keyOf(req: Request & { user?: AuthUser }): string | null {
    return req.user ? `user:${req.user.id}` : null;
  }
}
