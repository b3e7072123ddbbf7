import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

import { PARTICIPANT_ROLES, type ParticipantRole } from '../interview-participant.entity.js';

const DAYS_RULE = 'days must be an integer between 1 and 365';

export class UnmappedParticipantsQueryDto {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: 365,
    default: 30,
    description: 'Interviews that started in the last `days` days, and every upcoming one',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: DAYS_RULE })
  @Min(1, { message: DAYS_RULE })
  @Max(365, { message: DAYS_RULE })
  days = 30;
}

export class UnmappedParticipantDto {
  @ApiProperty({ example: 'u_1024' }) platformUserId: string;
  @ApiProperty({
    enum: ['unmapped', 'left', 'disabled'],
    description:
      '`unmapped`: no WeCom member is mapped to them; `left` / `disabled`: their member left the corp or is disabled',
  })
  wecom: 'unmapped' | 'left' | 'disabled';
  @ApiProperty({ type: 'integer', description: 'Interviews of the period they take part in' })
  interviewCount: number;
  @ApiProperty({ description: 'Their next interview, or their latest when none is upcoming' })
  interviewId: string;
  @ApiProperty() title: string;
  @ApiProperty({ format: 'date-time' }) startsAt: string;
  @ApiProperty({ enum: PARTICIPANT_ROLES, description: 'Their role in that interview' })
  role: ParticipantRole;
}

export class UnmappedParticipantListDto {
  @ApiProperty({ type: [UnmappedParticipantDto] }) items: UnmappedParticipantDto[];
  @ApiProperty({
    description: 'True when more participants than were looked at took part (the list is partial)',
  })
  truncated: boolean;
}
