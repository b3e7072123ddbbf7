import { timingSafeEqual } from 'node:crypto';

import { Controller, Get, Header, Headers, Inject, UnauthorizedException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiExcludeController } from '@nestjs/swagger';

import { Public } from '../auth/auth.decorators.js';
import { SkipRateLimit } from '../auth/rate-limit.guard.js';
import { Clock } from '../common/clock.js';
import type { AppConfigService } from '../config/app-config.js';
import { MessagingService } from '../messaging/messaging.service.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import { OrganizationsService } from '../organizations/organizations.service.js';
import { AccessTokenProvider } from '../wecom/token/access-token.provider.js';
import { MetricsService } from './metrics.service.js';

/** Prometheus scrape endpoint; behind METRICS_TOKEN (a bearer token) when that is set. */
@ApiExcludeController()
@SkipRateLimit()
@Controller('metrics')
export class MetricsController {
  private readonly token?: Buffer;

  constructor(
    private readonly metrics: MetricsService,
    private readonly tokens: AccessTokenProvider,
    private readonly clock: Clock,
    private readonly messaging: MessagingService,
    private readonly organizations: OrganizationsService,
    @Inject(ConfigService) config: AppConfigService,
  ) {
    const token = config.get('METRICS_TOKEN', { infer: true });
    this.token = token ? Buffer.from(token) : undefined;
  }

  @Public()
  @Get()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(@Headers('authorization') authorization?: string): Promise<string> {
    if (this.token) {
      const given = Buffer.from(/^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1] ?? '');
      if (given.length !== this.token.length || !timingSafeEqual(given, this.token)) {
        throw new UnauthorizedException('metrics need the METRICS_TOKEN bearer token');
      }
    }
    await this.refreshGauges();
    return this.metrics.registry.metrics();
  }

  private async refreshGauges(): Promise<void> {
    // The deployment's own app (organisation default), as /health reports it.
    const status = this.tokens.statusOf(DEFAULT_ORGANIZATION.id);
    this.metrics.tokenSecondsLeft.set(
      status.status === 'ok' && status.tokenSecondsLeft !== null ? status.tokenSecondsLeft : -1,
    );
    try {
      const { depth, oldest } = await this.organizations.within(DEFAULT_ORGANIZATION, () =>
        this.messaging.outboxBacklog(),
      );
      this.metrics.outboxDepth.set(depth);
      this.metrics.outboxOldestAge.set(
        oldest ? Math.max(0, (this.clock.nowMs() - oldest.getTime()) / 1000) : 0,
      );
    } catch {
      // The database is down: /health says so; the gauges keep their last value.
    }
  }
}
