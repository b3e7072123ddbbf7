import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsEmail,
  IsIn,
  IsInt,
  IsISO8601,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateNested,
  type ValidationOptions,
} from 'class-validator';

import { parseApiTime } from '../../common/api-time.js';
import { PLATFORM_ID } from '../../user-mappings/dto/user-mapping.dto.js';
import { isTimeZone } from '../interview-time.js';

export const MAX_INTERVIEWERS = 20;
const ISO_WITH_OFFSET = /(?:Z|[+-]\d{2}:?\d{2})$/i;

function IsTimeZone(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isTimeZone',
      validator: {
        validate: (value) => typeof value === 'string' && isTimeZone(value),
        defaultMessage: (args) =>
          `${args?.property} must be an IANA time zone such as Asia/Shanghai (got ${JSON.stringify(args?.value)})`,
      },
    },
    options,
  );
}

/** The rules shared by create and update, so both answer the same 400s. */
const startsAt = () => [
  IsISO8601(
    { strict: true, strictSeparator: true },
    { message: 'startsAt must be an ISO 8601 time, e.g. 2026-11-24T10:00:00+08:00' },
  ),
  Matches(ISO_WITH_OFFSET, {
    message: 'startsAt must carry a UTC offset (Z or +08:00) so the time is not ambiguous',
  }),
  ValidateBy({
    name: 'isApiTime',
    validator: {
      validate: (value) => parseApiTime(value) !== undefined,
      defaultMessage: () => 'startsAt must be between the years 1970 and 9999',
    },
  }),
];
const duration = () => [
  IsInt({ message: 'durationMinutes must be a whole number of minutes' }),
  Min(15, { message: 'durationMinutes must be between 15 and 480' }),
  Max(480, { message: 'durationMinutes must be between 15 and 480' }),
];
const roomUrl = () => [
  IsUrl(
    { protocols: ['https'], require_protocol: true },
    { message: 'roomUrl must be an https:// URL (the ShowMeBug room link)' },
  ),
  MaxLength(2048, { message: 'roomUrl must be at most 2048 characters' }),
];
const people = (field: 'interviewers' | 'observers', min: number) => [
  IsArray({ message: `${field} must be a list of platform user ids` }),
  ...(min > 0
    ? [ArrayMinSize(min, { message: `${field} must list at least one interviewer` })]
    : []),
  ArrayMaxSize(MAX_INTERVIEWERS, {
    message: `${field} may list at most ${MAX_INTERVIEWERS} people`,
  }),
  ArrayUnique({ message: `${field} lists someone twice` }),
  Matches(PLATFORM_ID, {
    each: true,
    message: `${field} must hold platform user ids (1-128 letters, digits or _.:@-)`,
  }),
];
const apply =
  (...decorators: PropertyDecorator[]): PropertyDecorator =>
  (target, key) => {
    for (const d of decorators) d(target, key);
  };

export class CandidateInputDto {
  @ApiProperty({ example: '王小明' })
  @IsString({ message: 'name must be a string' })
  @Length(1, 100, { message: 'name must be 1-100 characters' })
  name: string;

  @ApiPropertyOptional({ example: 'wangxm@example.com' })
  @IsOptional()
  @IsEmail({}, { message: 'email must be an email address' })
  @MaxLength(254)
  email?: string;

  @ApiPropertyOptional({ example: '13900000000' })
  @IsOptional()
  @Matches(/^\+?[0-9 -]{5,20}$/, { message: 'phone must be a phone number' })
  phone?: string;

  @ApiPropertyOptional({
    example: 'c_2048',
    description: 'When the candidate is a platform user: they become a participant',
  })
  @IsOptional()
  @Matches(PLATFORM_ID, {
    message: 'platformUserId must be 1-128 letters, digits or _.:@-',
  })
  platformUserId?: string;
}

export class CreateInterviewDto {
  @ApiProperty({ example: '前端工程师 二面', minLength: 1, maxLength: 200 })
  @IsString({ message: 'title must be a string' })
  @Length(1, 200, { message: 'title must be 1-200 characters' })
  title: string;

  @ApiPropertyOptional({ example: '高级前端工程师' })
  @IsOptional()
  @IsString()
  @Length(1, 100, { message: 'position must be 1-100 characters' })
  position?: string;

  @ApiProperty({ type: CandidateInputDto })
  // ValidateNested alone lets a missing candidate (or an empty list) through to the service.
  @IsObject({ message: 'candidate must be an object: { name, email?, phone?, platformUserId? }' })
  @ValidateNested()
  @Type(() => CandidateInputDto)
  candidate: CandidateInputDto;

  @ApiProperty({
    example: '2026-11-24T10:00:00+08:00',
    format: 'date-time',
    description: 'ISO 8601 with an offset',
  })
  @apply(...startsAt())
  startsAt: string;

  @ApiProperty({ type: 'integer', example: 60, minimum: 15, maximum: 480 })
  @apply(...duration())
  durationMinutes: number;

  @ApiPropertyOptional({ example: 'Asia/Shanghai', default: 'Asia/Shanghai' })
  @IsOptional()
  @IsTimeZone()
  timezone?: string;

  @ApiProperty({ example: 'https://www.showmebug.com/pads/AB12CD' })
  @apply(...roomUrl())
  roomUrl: string;

  @ApiProperty({ type: [String], example: ['u_1024'], maxItems: MAX_INTERVIEWERS })
  @apply(...people('interviewers', 1))
  interviewers: string[];

  @ApiPropertyOptional({ type: [String], example: ['u_2048'], maxItems: MAX_INTERVIEWERS })
  @IsOptional()
  @apply(...people('observers', 0))
  observers?: string[];
}

export class UpdateInterviewDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 200 })
  @IsOptional()
  @IsString({ message: 'title must be a string' })
  @Length(1, 200, { message: 'title must be 1-200 characters' })
  title?: string;

  @ApiPropertyOptional({ nullable: true, type: String })
  @IsOptional()
  @IsString()
  @Length(1, 100, { message: 'position must be 1-100 characters' })
  position?: string;

  @ApiPropertyOptional({ example: '2026-11-25T14:00:00+08:00', format: 'date-time' })
  @IsOptional()
  @apply(...startsAt())
  startsAt?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 15, maximum: 480 })
  @IsOptional()
  @apply(...duration())
  durationMinutes?: number;

  @ApiPropertyOptional({ example: 'Asia/Shanghai' })
  @IsOptional()
  @IsTimeZone()
  timezone?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @apply(...roomUrl())
  roomUrl?: string;

  @ApiPropertyOptional({
    type: [String],
    description: 'The full new list (replaces the old one)',
  })
  @IsOptional()
  @apply(...people('interviewers', 1))
  interviewers?: string[];

  @ApiPropertyOptional({ type: [String], description: 'The full new list' })
  @IsOptional()
  @apply(...people('observers', 0))
  observers?: string[];

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    description: 'The version this change is based on (or send it as If-Match)',
  })
  @IsOptional()
  @IsInt({ message: 'version must be an integer' })
  @Min(1, { message: 'version must be an integer' })
  version?: number;
}

export class CancelInterviewDto {
  @ApiPropertyOptional({ example: '候选人已接受其他 offer', maxLength: 500 })
  @IsOptional()
  @IsString()
  @Length(1, 500, { message: 'reason must be 1-500 characters' })
  reason?: string;
}

export const RSVP_RESPONSES = ['accepted', 'declined'] as const;
export type RsvpResponse = (typeof RSVP_RESPONSES)[number];

export class RsvpDto {
  @ApiProperty({ enum: RSVP_RESPONSES })
  @IsIn(RSVP_RESPONSES, { message: 'response must be accepted or declined' })
  response: RsvpResponse;
}
