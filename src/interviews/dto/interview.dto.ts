import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, Matches } from 'class-validator';

import { QueryTime } from '../../common/api-time.js';
import { PageQueryDto } from '../../common/pagination.dto.js';
import { PLATFORM_ID } from '../../user-mappings/dto/user-mapping.dto.js';
import { MAPPING_STATUSES, type MappingStatus } from '../../user-mappings/member.js';
import {
  PARTICIPANT_ROLES,
  RSVPS,
  type ParticipantRole,
  type Rsvp,
} from '../interview-participant.entity.js';
import {
  REMINDER_KINDS,
  REMINDER_STATES,
  type ReminderKind,
  type ReminderState,
} from '../interview-reminder.entity.js';
import { INTERVIEW_STATUSES, type InterviewStatus } from '../interview.entity.js';

export class ListInterviewsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'ISO 8601; interviews starting at or after it' })
  @IsOptional()
  @QueryTime('from')
  from?: Date;

  @ApiPropertyOptional({ description: 'ISO 8601; interviews starting before it' })
  @IsOptional()
  @QueryTime('to')
  to?: Date;

  @ApiPropertyOptional({
    description: 'platform user id of a participant (interviewers always see only their own)',
  })
  @IsOptional()
  @Matches(PLATFORM_ID, { message: 'participant must be a platform user id' })
  participant?: string;

  @ApiPropertyOptional({ enum: INTERVIEW_STATUSES })
  @IsOptional()
  @IsIn(INTERVIEW_STATUSES)
  status?: InterviewStatus;
}

export class CandidateDto {
  @ApiProperty() name: string;
  @ApiProperty({ nullable: true, type: String }) email: string | null;
  @ApiProperty({ nullable: true, type: String }) phone: string | null;
  @ApiProperty({ nullable: true, type: String }) platformUserId: string | null;
}

export class InterviewDto {
  @ApiProperty() id: string;
  @ApiProperty() title: string;
  @ApiProperty({ nullable: true, type: String }) position: string | null;
  @ApiProperty({ type: CandidateDto }) candidate: CandidateDto;
  @ApiProperty({ example: '2026-11-24T02:00:00.000Z' }) startsAt: string;
  @ApiProperty() endsAt: string;
  @ApiProperty({ example: '2026-11-24 10:00', description: 'Wall-clock start in `timezone`' })
  localStartsAt: string;
  @ApiProperty({ type: 'integer' }) durationMinutes: number;
  @ApiProperty({ example: 'Asia/Shanghai' }) timezone: string;
  @ApiProperty() roomUrl: string;
  @ApiProperty({ enum: INTERVIEW_STATUSES }) status: InterviewStatus;
  @ApiProperty({ nullable: true, type: String }) cancelReason: string | null;
  @ApiProperty({
    type: 'integer',
    description: 'Send it back as If-Match (or `version`) when changing the interview',
  })
  version: number;
  @ApiProperty() createdBy: string;
  @ApiProperty() createdAt: string;
  @ApiProperty() updatedAt: string;
}

export class ParticipantDto {
  @ApiProperty() platformUserId: string;
  @ApiProperty({ enum: PARTICIPANT_ROLES }) role: ParticipantRole;
  @ApiProperty({ enum: RSVPS }) rsvp: Rsvp;
  @ApiProperty({ nullable: true, type: String }) respondedAt: string | null;
  @ApiProperty({
    enum: [...MAPPING_STATUSES, 'unmapped'],
    description:
      'Whether WeCom messages reach them: `active`, or not (`left` the corp, `disabled`, `unmapped`)',
  })
  wecom: MappingStatus | 'unmapped';
}

export class ReminderDto {
  @ApiProperty() id: string;
  @ApiProperty({ enum: REMINDER_KINDS }) kind: ReminderKind;
  @ApiProperty({
    type: 'integer',
    description: 'Minutes before the start (after the end for feedback)',
  })
  leadMinutes: number;
  @ApiProperty() dueAt: string;
  @ApiProperty({ enum: REMINDER_STATES }) state: ReminderState;
  @ApiProperty({ nullable: true, type: String }) messageId: string | null;
  @ApiProperty({ nullable: true, type: String }) processedAt: string | null;
}

export const UNREACHABLE_REASONS = ['no_mapping', 'inactive_mapping'] as const;
export type UnreachableReason = (typeof UNREACHABLE_REASONS)[number];

/** A participant WeCom messages will not reach, and why: for the recruiter to fix in time. */
export class UnreachableParticipantDto {
  @ApiProperty() platformUserId: string;
  @ApiProperty({ enum: PARTICIPANT_ROLES }) role: ParticipantRole;
  @ApiProperty({
    enum: UNREACHABLE_REASONS,
    description:
      '`no_mapping`: no WeCom member is mapped to them; `inactive_mapping`: their member left the corp or is disabled',
  })
  reason: UnreachableReason;
  @ApiProperty({ example: 'No WeCom member is mapped to this user; map one to notify them' })
  detail: string;
}

export class InterviewDetailsDto {
  @ApiProperty({ type: InterviewDto }) interview: InterviewDto;
  @ApiProperty({ type: [ParticipantDto] }) participants: ParticipantDto[];
  @ApiProperty({ type: [ReminderDto] }) reminders: ReminderDto[];
  @ApiProperty({
    type: [UnreachableParticipantDto],
    description:
      'Participants who will not receive WeCom notices (invitations, changes, reminders) as things stand',
  })
  unreachable: UnreachableParticipantDto[];
}

export class InterviewPageDto {
  @ApiProperty({ type: [InterviewDto] }) items: InterviewDto[];
  @ApiProperty({ nullable: true, type: String }) nextCursor: string | null;
}
