import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';

import { PageQueryDto } from '../../common/pagination.dto.js';
import { WeComStatusDto } from '../../wecom/dto/wecom-status.dto.js';

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const WEEK_MIN = 7 * 24 * 60;

export class QuietHoursDto {
  @ApiProperty({
    example: '22:00',
    pattern: HHMM.source,
    description: "Start, HH:MM in the recipient's time zone",
  })
  @IsString()
  @Matches(HHMM, { message: 'quietHours.start must be HH:MM (00:00 to 23:59)' })
  start: string;

  @ApiProperty({
    example: '08:00',
    pattern: HHMM.source,
    description: 'End, HH:MM; before start means the next day',
  })
  @IsString()
  @Matches(HHMM, { message: 'quietHours.end must be HH:MM (00:00 to 23:59)' })
  end: string;
}

/**
 * The whole editable configuration (PUT). Secrets are write-only (GET shows them masked):
 * omitted, they keep their current value.
 */
export class UpdateAdminConfigDto {
  @ApiProperty({ example: 'ww1234567890abcdef', pattern: '^[A-Za-z0-9_-]{1,64}$' })
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'corpId must be 1-64 letters, digits, _ or -' })
  corpId: string;

  @ApiProperty({ type: 'integer', example: 1000002, minimum: 1, maximum: 2_147_483_647 })
  @IsInt({ message: 'agentId must be an integer between 1 and 2147483647' })
  @Min(1, { message: 'agentId must be an integer between 1 and 2147483647' })
  @Max(2_147_483_647, { message: 'agentId must be an integer between 1 and 2147483647' })
  agentId: number;

  @ApiPropertyOptional({
    type: String,
    pattern: '^[A-Za-z0-9_-]{1,128}$',
    writeOnly: true,
    description: 'Write-only; omit to keep the current one',
  })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,128}$/, {
    message: 'corpSecret must be 1-128 letters, digits, _ or - (the Secret of the app)',
  })
  corpSecret?: string;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    pattern: '^[A-Za-z0-9]{1,32}$',
    writeOnly: true,
    description: 'Callback Token; write-only; null turns callbacks off (with callbackAesKey)',
  })
  @ValidateIf((o: UpdateAdminConfigDto) => o.callbackToken !== null)
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9]{1,32}$/, { message: 'callbackToken must be 1-32 letters or digits' })
  callbackToken?: string | null;

  @ApiPropertyOptional({
    type: String,
    nullable: true,
    pattern: '^[A-Za-z0-9+/]{43}$',
    writeOnly: true,
    description: 'EncodingAESKey; write-only',
  })
  @ValidateIf((o: UpdateAdminConfigDto) => o.callbackAesKey !== null)
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9+/]{43}$/, {
    message: 'callbackAesKey must be 43 characters of base64 (the EncodingAESKey)',
  })
  callbackAesKey?: string | null;

  @ApiProperty({
    type: 'integer',
    isArray: true,
    minimum: 1,
    maximum: WEEK_MIN,
    maxItems: 10,
    uniqueItems: true,
    example: [15, 1440],
    description: 'Minutes before the start, 1 to 10080',
  })
  @IsArray({ message: 'reminderLeadTimesMin must be an array of integers' })
  @ArrayMinSize(0)
  @ArrayMaxSize(10, { message: 'reminderLeadTimesMin holds at most 10 lead times' })
  @ArrayUnique({ message: 'reminderLeadTimesMin must not repeat a lead time' })
  @IsInt({ each: true, message: 'reminderLeadTimesMin must be an array of integers' })
  @Min(1, { each: true, message: 'a reminder lead time is at least 1 minute' })
  @Max(WEEK_MIN, { each: true, message: 'a reminder lead time is at most 7 days (10080)' })
  reminderLeadTimesMin: number[];

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    maximum: WEEK_MIN,
    example: 30,
    description: 'Minutes after the end; 0 turns the nudge off',
  })
  @IsInt({ message: 'feedbackNudgeMin must be an integer between 0 and 10080' })
  @Min(0, { message: 'feedbackNudgeMin must be an integer between 0 and 10080' })
  @Max(WEEK_MIN, { message: 'feedbackNudgeMin must be an integer between 0 and 10080' })
  feedbackNudgeMin: number;

  @ApiProperty({ type: QuietHoursDto, nullable: true })
  @ValidateIf((o: UpdateAdminConfigDto) => o.quietHours !== null)
  @IsObject({ message: 'quietHours must be { start, end } or null' })
  @ValidateNested()
  @Type(() => QuietHoursDto)
  quietHours: QuietHoursDto | null;

  @ApiProperty({ enum: ['zh', 'en'] })
  @IsIn(['zh', 'en'], { message: 'defaultLanguage must be zh or en' })
  defaultLanguage: 'zh' | 'en';
}

/** Any subset of the fields of PUT. */
export class PatchAdminConfigDto extends PartialType(UpdateAdminConfigDto) {}

export class AuditQueryDto extends PageQueryDto {}

export interface SecretView {
  set: boolean;
  /** The last 4 characters, to tell two values apart; null when unset. */
  last4: string | null;
}

export interface AdminConfigView {
  version: number;
  configured: boolean;
  corpId: string;
  agentId: number;
  corpSecret: SecretView;
  callbackToken: SecretView;
  callbackAesKey: SecretView;
  /** Paste into the WeCom console ("接收消息" → URL). */
  callbackUrl: string;
  sandbox: boolean;
  token: unknown;
  reminderLeadTimesMin: number[];
  feedbackNudgeMin: number;
  feedbackNudgeEnabled: boolean;
  quietHours: { start: string; end: string } | null;
  defaultLanguage: 'zh' | 'en';
  updatedAt: string | null;
  updatedBy: string | null;
}

export class SecretViewDto implements SecretView {
  @ApiProperty({ description: 'Whether a value is stored' }) set: boolean;
  @ApiProperty({
    type: String,
    nullable: true,
    example: 'f00d',
    description: 'Its last 4 characters, to tell two values apart; null when unset',
  })
  last4: string | null;
}

export class AdminConfigViewDto {
  @ApiProperty({
    type: 'integer',
    description: 'Grows by one with each applied change; 0 while nothing is stored',
  })
  version: number;
  @ApiProperty({
    description:
      "False until the organisation's WeCom app is set (corpId, agentId and corpSecret, all in the first change)",
  })
  configured: boolean;
  @ApiProperty({ example: 'ww1234567890abcdef', description: 'Empty while not configured' })
  corpId: string;
  @ApiProperty({ type: 'integer', example: 1000002, description: '0 while not configured' })
  agentId: number;
  @ApiProperty({ type: SecretViewDto }) corpSecret: SecretViewDto;
  @ApiProperty({ type: SecretViewDto }) callbackToken: SecretViewDto;
  @ApiProperty({ type: SecretViewDto }) callbackAesKey: SecretViewDto;
  @ApiProperty({
    example: 'https://wecom.example.com/wecom/callback/acme',
    description:
      "Paste into the WeCom console (接收消息 → URL): the organisation's own (`/wecom/callback` for `default`)",
  })
  callbackUrl: string;
  @ApiProperty({ description: 'True when WeCom is the built-in simulator' }) sandbox: boolean;
  @ApiProperty({ type: WeComStatusDto }) token: WeComStatusDto;
  @ApiProperty({ type: 'integer', isArray: true, example: [15, 1440] })
  reminderLeadTimesMin: number[];
  @ApiProperty({ type: 'integer', example: 30 }) feedbackNudgeMin: number;
  @ApiProperty() feedbackNudgeEnabled: boolean;
  @ApiProperty({ type: QuietHoursDto, nullable: true }) quietHours: QuietHoursDto | null;
  @ApiProperty({ enum: ['zh', 'en'] }) defaultLanguage: 'zh' | 'en';
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Null while nothing is stored',
  })
  updatedAt: string | null;
  @ApiProperty({ type: String, nullable: true }) updatedBy: string | null;
}

export class AuditItemDto {
  @ApiProperty() id: string;
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty({ description: 'Platform user id of who did it' }) actor: string;
  @ApiProperty({ example: 'update', description: '`update` or `check`' }) action: string;
  @ApiProperty({ type: [String], example: ['reminderLeadTimesMin'] }) fields: string[];
  @ApiProperty({ example: 'applied', description: '`applied` or `rejected`' }) outcome: string;
  @ApiProperty({ type: String, nullable: true, example: 'errcode 40001' }) detail: string | null;
  @ApiProperty({ type: 'integer', nullable: true }) version: number | null;
  @ApiProperty({ type: String, nullable: true }) requestId: string | null;
}

export class AuditPageDto {
  @ApiProperty({ type: [AuditItemDto] }) items: AuditItemDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor: string | null;
}

export class WeComCheckResultDto {
  @ApiProperty({ description: 'True when WeCom handed out a token' }) ok: boolean;
  @ApiProperty() corpId: string;
  @ApiProperty({ type: 'integer' }) agentId: number;
  @ApiProperty({
    type: 'integer',
    nullable: true,
    description: "WeCom's errcode: 0 on success, null when it could not be reached",
  })
  errcode: number | null;
  @ApiProperty() errmsg: string;
  @ApiPropertyOptional({ type: 'integer', description: "The token's lifetime in seconds" })
  expiresIn?: number;
  @ApiPropertyOptional({ description: 'What to configure, in plain words, when WeCom refused' })
  action?: string;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description: 'The address WeCom saw, when it said',
  })
  fromIp?: string | null;
}
