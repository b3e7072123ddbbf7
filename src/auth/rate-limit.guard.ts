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
 * Fixed-window limits on every route: per client address, and per signed-in user (registered
 * after the AuthGuard, so `req.user` is the verified caller). Counters live in each instance's
 * memory, so N instances admit up to N times the limit.
 *
 * Our own rather than @nestjs/throttler: that package is CommonJS requiring the ESM-only Nest 12,
 * which Node 20 runs but Jest's module runtime cannot load (require(esm) needs Node 24.9 there).
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly windows = new Map<string, Window>();
  private readonly ttlMs: number;
  private readonly perUser: number;
  private readonly perIp: number;

  constructor(
    private readonly reflector: Reflector,
    private readonly clock: Clock,
    @Inject(ConfigService) config: AppConfigService,
  ) {
    this.ttlMs = config.get('THROTTLE_TTL_S', { infer: true }) * 1000;
    this.perUser = config.get('THROTTLE_LIMIT', { infer: true });
    this.perIp = config.get('THROTTLE_IP_LIMIT', { infer: true }) ?? this.perUser * 4;
  }

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const skip = this.reflector.getAllAndOverride<boolean | undefined>(SKIP_RATE_LIMIT, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (skip) return true;
    const req = context.switchToHttp().getRequest<Request & { user?: AuthUser }>();
    const res = context.switchToHttp().getResponse<Response>();
    const now = this.clock.nowMs();
    const checks: [string, number][] = [[`ip:${req.ip ?? 'unknown'}`, this.perIp]];
    if (req.user) checks.push([`user:${req.user.id}`, this.perUser]);
    for (const [key, limit] of checks) {
      const window = this.count(key, now);
      if (window.count > limit) {
        const retryAfter = Math.max(1, Math.ceil((window.startedAt + this.ttlMs - now) / 1000));
        res.setHeader('Retry-After', String(retryAfter));
        throw new HttpException(
          `Too many requests; retry after ${retryAfter} s`,
          HttpStatus.TOO_MANY_REQUESTS,
        );
      }
    }
    return true;
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
