import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

import { Public } from '../auth/auth.decorators.js';
import { SkipRateLimit } from '../auth/rate-limit.guard.js';
import { HealthReportDto } from './dto/health-report.dto.js';
import { HealthService, type HealthReport } from './health.service.js';

@ApiTags('health')
@SkipRateLimit()
@Controller('health')
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Public()
  @Get()
  @ApiOperation({
    operationId: 'getHealth',
    summary: 'Liveness and dependencies: database, WeCom',
  })
  @ApiOkResponse({ type: HealthReportDto, description: 'The database answers' })
  @ApiServiceUnavailableResponse({
    type: HealthReportDto,
    description: 'The database does not answer (the same report, `status: error`)',
  })
  async check(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthReport> {
    const report = await this.health.report();
    if (report.status !== 'ok') reply.status(HttpStatus.SERVICE_UNAVAILABLE);
    return report;
  }
}
