import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  ValidateNested,
} from 'class-validator';

import { QueryTime } from '../../common/api-time.js';
import { PageQueryDto } from '../../common/pagination.dto.js';
import { PLATFORM_ID, WECOM_ID, WECOM_ID_RULE } from '../../user-mappings/dto/user-mapping.dto.js';
import type { WeComMsgType } from '../../wecom/client/wecom.types.js';
import { MSG_TYPES } from '../message-content.js';
import { RECIPIENT_STATUSES, type RecipientStatus } from '../message-recipient.entity.js';
import { MESSAGE_STATUSES, type MessageStatus } from '../message.entity.js';
import { MESSAGE_CONTENT_SCHEMA } from './message-body.dto.js';

export class RecipientRefDto {
  @ApiPropertyOptional({ example: 'u_1024' })
  @IsOptional()
  @Matches(PLATFORM_ID, { message: 'platformUserId must be 1-128 letters, digits or _.:@-' })
  platformUserId?: string;

  @ApiPropertyOptional({ example: 'zhangsan' })
  @IsOptional()
  @Matches(WECOM_ID, { message: `wecomUserId must be ${WECOM_ID_RULE}` })
  wecomUserId?: string;
}

export class SendMessageDto {
  @ApiProperty({
    type: [RecipientRefDto],
    description: 'Each item gives platformUserId or wecomUserId',
  })
  @IsArray()
  @ArrayMinSize(1, { message: 'to must name at least one recipient' })
  @ArrayMaxSize(5000)
  @ValidateNested({ each: true })
  @Type(() => RecipientRefDto)
  to: RecipientRefDto[];

  @ApiProperty({ enum: MSG_TYPES })
  @IsIn(MSG_TYPES)
  msgtype: WeComMsgType;

  @ApiPropertyOptional({ example: { content: '面试提醒：明天 10:00' } })
  @IsOptional()
  @IsObject()
  text?: Record<string, unknown>;

  @ApiPropertyOptional() @IsOptional() @IsObject() markdown?: Record<string, unknown>;
  @ApiPropertyOptional() @IsOptional() @IsObject() textcard?: Record<string, unknown>;
  @ApiPropertyOptional() @IsOptional() @IsObject() news?: Record<string, unknown>;
  @ApiPropertyOptional() @IsOptional() @IsObject() template_card?: Record<string, unknown>;

  @ApiPropertyOptional({ description: 'The same key twice returns the first message' })
  @IsOptional()
  @IsString()
  @Matches(/^[\x21-\x7e]{1,128}$/, {
    message: 'idempotencyKey must be 1-128 printable ASCII characters',
  })
  idempotencyKey?: string;
}

export class ListMessagesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: MESSAGE_STATUSES })
  @IsOptional()
  @IsIn(MESSAGE_STATUSES)
  status?: MessageStatus;

  @ApiPropertyOptional({ description: 'platform user id of a recipient' })
  @IsOptional()
  @Matches(PLATFORM_ID, { message: 'recipient must be 1-128 letters, digits or _.:@-' })
  recipient?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID('all', { message: 'interviewId must be an interview id (a UUID)' })
  interviewId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @Matches(/^[a-z0-9_.-]{1,64}$/, { message: 'kind must be 1-64 of a-z 0-9 _ . -' })
  kind?: string;

  @ApiPropertyOptional({ description: 'ISO 8601 time; messages created at or after it' })
  @IsOptional()
  @QueryTime('since')
  since?: Date;
}

export class MessageRecipientDto {
  @ApiProperty({ nullable: true, type: String }) platformUserId: string | null;
  @ApiProperty({ nullable: true, type: String }) wecomUserId: string | null;
  @ApiProperty({ enum: RECIPIENT_STATUSES }) status: RecipientStatus;
  @ApiProperty({ nullable: true, type: String }) deliveredAt: string | null;
  @ApiProperty({ nullable: true, type: String }) notBefore: string | null;
  @ApiPropertyOptional({
    description:
      "Why the recipient did not get it, in words (e.g. outside the app's visible range); read from WeCom when the message is shown",
  })
  detail?: string;
}

export class MessageAttemptDto {
  @ApiProperty({ format: 'date-time' }) startedAt: string;
  @ApiProperty({ type: 'integer' }) latencyMs: number;
  @ApiProperty({ nullable: true, type: 'integer' }) errcode: number | null;
  @ApiProperty() errmsg: string;
  @ApiProperty({ nullable: true, type: 'integer' }) httpStatus: number | null;
  @ApiProperty({ type: 'integer' }) recipientCount: number;
}

export class MessageDto {
  @ApiProperty() id: string;
  @ApiProperty() kind: string;
  @ApiProperty({ enum: MSG_TYPES }) msgtype: WeComMsgType;
  @ApiProperty(MESSAGE_CONTENT_SCHEMA) content: Record<string, unknown>;
  @ApiProperty({ enum: MESSAGE_STATUSES }) status: MessageStatus;
  @ApiProperty() idempotencyKey: string;
  @ApiProperty({ nullable: true, type: String }) interviewId: string | null;
  @ApiProperty({ type: 'integer' }) attempts: number;
  @ApiProperty({ nullable: true, type: String }) nextAttemptAt: string | null;
  @ApiProperty({ nullable: true, type: String }) wecomMsgid: string | null;
  @ApiProperty({ nullable: true, type: 'integer' }) lastErrcode: number | null;
  @ApiProperty({ nullable: true, type: String }) lastErrmsg: string | null;
  @ApiProperty() createdAt: string;
  @ApiProperty({ nullable: true, type: String }) sentAt: string | null;
  @ApiPropertyOptional({ type: [MessageRecipientDto] }) recipients?: MessageRecipientDto[];
  @ApiPropertyOptional({ type: [MessageAttemptDto] }) attemptLog?: MessageAttemptDto[];
}

export class MessagePageDto {
  @ApiProperty({ type: [MessageDto] }) items: MessageDto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}
