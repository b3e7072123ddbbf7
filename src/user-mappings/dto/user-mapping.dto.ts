import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsEmail, IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';

import { PageQueryDto } from '../../common/pagination.dto.js';
import {
  LANGUAGES,
  MAPPING_SOURCES,
  MAPPING_STATUSES,
  type Language,
  type MappingSource,
  type MappingStatus,
} from '../user-mapping.entity.js';

export const PLATFORM_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
/**
 * A WeCom userid as WeCom allows them: 1-64 letters, digits or `_.@-` (64 bytes, all ASCII).
 * Never `@all` in any case: in message/send's `touser` that addresses the whole company, and
 * `|` (a separator there) is not in the set either.
 */
export const WECOM_ID = /^(?!@all$)[A-Za-z0-9_.@-]{1,64}$/i;
export const WECOM_ID_RULE = '1-64 letters, digits or _.@- (and not @all)';

export class CreateUserMappingDto {
  @ApiProperty({ example: 'u_1024', description: 'ShowMeBug user id' })
  @IsString()
  @Matches(PLATFORM_ID, { message: 'platformUserId must be 1-128 letters, digits or _.:@-' })
  platformUserId: string;

  @ApiPropertyOptional({
    example: 'zhangsan',
    description: 'WeCom userid (give exactly one of wecomUserId, mobile, email)',
  })
  @IsOptional()
  @IsString()
  @Matches(WECOM_ID, { message: `wecomUserId must be ${WECOM_ID_RULE}` })
  wecomUserId?: string;

  @ApiPropertyOptional({
    example: '13800000000',
    description: 'Resolved through WeCom user/getuserid',
  })
  @IsOptional()
  @IsString()
  @Matches(/^\+?[0-9-]{5,20}$/, { message: 'mobile must be a phone number' })
  mobile?: string;

  @ApiPropertyOptional({
    example: 'zhangsan@example.com',
    description: 'Resolved through WeCom user/get_userid_by_email',
  })
  @IsOptional()
  @IsEmail({}, { message: 'email must be an email address' })
  @MaxLength(254)
  email?: string;

  @ApiPropertyOptional({
    enum: LANGUAGES,
    default: 'zh',
    description: 'Language of the messages this person gets',
  })
  @IsOptional()
  @IsIn(LANGUAGES)
  language?: Language;
}

export class ListUserMappingsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({
    example: 'zhang',
    pattern: PLATFORM_ID.source,
    description:
      'Search: mappings whose platform user id or WeCom userid starts with this, case aside',
  })
  @IsOptional()
  @Matches(PLATFORM_ID, {
    message:
      'q must be 1-128 letters, digits or _.:@- (the start of a platform user id or WeCom userid)',
  })
  q?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @Matches(PLATFORM_ID, { message: 'platformUserId must be 1-128 letters, digits or _.:@-' })
  platformUserId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @Matches(WECOM_ID, { message: `wecomUserId must be ${WECOM_ID_RULE}` })
  wecomUserId?: string;

  @ApiPropertyOptional({ enum: MAPPING_SOURCES })
  @IsOptional()
  @IsIn(MAPPING_SOURCES)
  source?: MappingSource;

  @ApiPropertyOptional({ enum: MAPPING_STATUSES })
  @IsOptional()
  @IsIn(MAPPING_STATUSES)
  status?: MappingStatus;
}

export class UserMappingDto {
  @ApiProperty() id: string;
  @ApiProperty() platformUserId: string;
  @ApiProperty() wecomUserId: string;
  @ApiProperty({ enum: MAPPING_SOURCES }) source: MappingSource;
  @ApiProperty({ enum: LANGUAGES }) language: Language;
  @ApiProperty({
    enum: MAPPING_STATUSES,
    description:
      'Follows WeCom contact events: `left` (removed from the corp) and `disabled` mappings are not sent to',
  })
  status: MappingStatus;
  @ApiProperty({ nullable: true, type: String }) statusChangedAt: string | null;
  @ApiProperty({ nullable: true, type: String }) createdBy: string | null;
  @ApiProperty() createdAt: string;
}

export class UserMappingPageDto {
  @ApiProperty({ type: [UserMappingDto] }) items: UserMappingDto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}
