import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

import { WeComStatusDto } from '../../wecom/dto/wecom-status.dto.js';

export class DatabaseHealthDto {
  @ApiProperty({ enum: ['up', 'down'] }) status: 'up' | 'down';
  @ApiProperty({ enum: ['postgresql', 'pglite'] }) engine: 'postgresql' | 'pglite';
  @ApiPropertyOptional({ example: '17.5', description: 'The server version, when it answers' })
  version?: string;
}

/** GET /health (HealthService.report). */
export class HealthReportDto {
  @ApiProperty({ enum: ['ok', 'error'], description: '`error` when the database does not answer' })
  status: 'ok' | 'error';
  @ApiProperty({ type: DatabaseHealthDto }) db: DatabaseHealthDto;
  @ApiProperty({ type: WeComStatusDto }) wecom: WeComStatusDto;
}
