import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The access token's state (AccessTokenProvider.status()), on /health and the admin config. */
export class WeComStatusDto {
  @ApiProperty({
    enum: ['ok', 'misconfigured', 'unreachable', 'unknown'],
    description:
      '`misconfigured`: WeCom refused our credentials or settings (see `action`); ' +
      '`unreachable`: WeCom did not answer; `unknown`: no token asked for yet',
  })
  status: 'ok' | 'misconfigured' | 'unreachable' | 'unknown';

  @ApiProperty({ description: 'True when WeCom is the built-in simulator' })
  sandbox: boolean;

  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    description: 'With `ok`: seconds the token has left',
  })
  tokenSecondsLeft?: number | null;

  @ApiPropertyOptional({ type: 'integer', description: "With `misconfigured`: WeCom's errcode" })
  errcode?: number;

  @ApiPropertyOptional({ description: 'With `misconfigured`: what to configure, in plain words' })
  action?: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description: 'With `misconfigured`: the address WeCom saw, when it said',
  })
  fromIp?: string | null;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'With `misconfigured`: messages wait until then (or a configuration change)',
  })
  retryAt?: string;

  @ApiPropertyOptional({ description: 'With `unreachable`: why, e.g. `errcode -1`' })
  reason?: string;
}
