import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
} from 'class-validator';

import { jsonSchemaPattern } from '../../common/json-schema-pattern.js';
import { PageQueryDto } from '../../common/pagination.dto.js';
import { WECOM_ID, WECOM_ID_RULE } from '../../user-mappings/dto/user-mapping.dto.js';
import {
  ORGANIZATION_SLUG_PATTERN,
  ORGANIZATION_STATUSES,
  type OrganizationStatus,
} from '../organization.js';

const SLUG_RULE =
  'slug must be 2-63 lower-case letters, digits or dashes, starting with a letter or digit';
const NAME_RULE = 'name must be 1-200 characters, not only spaces';
/** Something to read: not blank, no control characters (a name is shown in pages and logs). */
const NAME_PATTERN = /^(?=[\s\S]*\S)[^\p{Cc}]{1,200}$/u;

/** At most this many console admins per organisation (a list to read, not a directory). */
export const MAX_CONSOLE_ADMINS = 100;

/** `consoleAdmins` on create and update: the same rules, the same documentation. */
function ConsoleAdmins(): PropertyDecorator {
  const rule = `each of consoleAdmins must be ${WECOM_ID_RULE}`;
  return applyDecorators(
    ApiPropertyOptional({
      type: [String],
      maxItems: MAX_CONSOLE_ADMINS,
      example: ['zhangsan', 'lisi'],
      description:
        "WeCom userids of the organisation's own corp who may sign in to the admin console " +
        '(`/admin?org=<slug>`), as admins of this organisation only. Replaces the list; userids ' +
        'compare without case (as WeCom compares them), so repeats are kept once. For `default`, ' +
        'CONSOLE_ADMINS names admins too',
      items: { type: 'string', pattern: jsonSchemaPattern(WECOM_ID), minLength: 1, maxLength: 64 },
    }),
    IsOptional(),
    IsArray({ message: 'consoleAdmins must be a list of WeCom userids' }),
    ArrayMaxSize(MAX_CONSOLE_ADMINS, {
      message: `consoleAdmins holds at most ${MAX_CONSOLE_ADMINS} userids`,
    }),
    IsString({ each: true, message: rule }),
    Matches(WECOM_ID, { each: true, message: rule }),
  );
}

export class CreateOrganizationDto {
  @ApiProperty({
    example: 'acme',
    pattern: ORGANIZATION_SLUG_PATTERN.source,
    description:
      'Unique and fixed for good: it names the organisation in URLs (`/wecom/callback/<slug>`, ' +
      '`/auth/wecom/login?org=<slug>`) and in tokens (`org`)',
  })
  @IsString({ message: SLUG_RULE })
  @Matches(ORGANIZATION_SLUG_PATTERN, { message: SLUG_RULE })
  slug: string;

  @ApiProperty({ example: 'Acme Ltd', minLength: 1, maxLength: 200 })
  @IsString({ message: NAME_RULE })
  @MinLength(1, { message: NAME_RULE })
  @MaxLength(200, { message: NAME_RULE })
  @Matches(NAME_PATTERN, { message: NAME_RULE })
  name: string;

  @ConsoleAdmins()
  consoleAdmins?: string[];
}

export class UpdateOrganizationDto {
  @ApiPropertyOptional({ example: 'Acme Group', minLength: 1, maxLength: 200 })
  @IsOptional()
  @IsString({ message: NAME_RULE })
  @MinLength(1, { message: NAME_RULE })
  @MaxLength(200, { message: NAME_RULE })
  @Matches(NAME_PATTERN, { message: NAME_RULE })
  name?: string;

  @ApiPropertyOptional({
    enum: ORGANIZATION_STATUSES,
    description:
      '`suspended`: its deliveries and reminders wait (nothing is lost) and its users get 403; ' +
      '`active` again sends what waited',
  })
  @IsOptional()
  @IsIn(ORGANIZATION_STATUSES, { message: 'status must be one of: active, suspended' })
  status?: OrganizationStatus;

  @ConsoleAdmins()
  consoleAdmins?: string[];
}

export class ListOrganizationsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ORGANIZATION_STATUSES })
  @IsOptional()
  @IsIn(ORGANIZATION_STATUSES, { message: 'status must be one of: active, suspended' })
  status?: OrganizationStatus;
}

export class OrganizationDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'acme' }) slug: string;
  @ApiProperty({ example: 'Acme Ltd' }) name: string;
  @ApiProperty({ enum: ORGANIZATION_STATUSES }) status: OrganizationStatus;
  @ApiProperty({
    type: [String],
    example: ['zhangsan'],
    description: 'WeCom userids who may sign in to its admin console (CONSOLE_ADMINS not included)',
  })
  consoleAdmins: string[];
  @ApiProperty({
    example: 1,
    description: 'Counts changes; also the ETag. Send it back as If-Match when changing it',
  })
  version: number;
  @ApiProperty() createdAt: string;
  @ApiProperty() updatedAt: string;
}

export class OrganizationPageDto {
  @ApiProperty({ type: [OrganizationDto] }) items: OrganizationDto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}

/** What a member of an organisation learns of it: which one it is, by name. */
export class OwnOrganizationDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'acme' }) slug: string;
  @ApiProperty({ example: 'Acme Ltd' }) name: string;
}
