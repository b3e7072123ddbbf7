import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
} from 'typeorm';

import { OrganizationIdColumn } from '../database/organization-column.js';
import type { InterviewEntity } from './interview.entity.js';

export const PARTICIPANT_ROLES = ['interviewer', 'observer', 'recruiter', 'candidate'] as const;
export type ParticipantRole = (typeof PARTICIPANT_ROLES)[number];
export const RSVPS = ['pending', 'accepted', 'declined'] as const;
export type Rsvp = (typeof RSVPS)[number];

/** Who takes part in an interview, in one role each (the primary key says so). */
@Entity('interview_participants')
@Index('interview_participants_user_idx', { synchronize: false })
@Check(
  'interview_participants_platform_user_id_check',
  'length(platform_user_id) BETWEEN 1 AND 128',
)
@Check(
  'interview_participants_role_check',
  `role IN ('interviewer', 'observer', 'recruiter', 'candidate')`,
)
@Check('interview_participants_rsvp_check', `rsvp IN ('pending', 'accepted', 'declined')`)
export class InterviewParticipantEntity {
  @PrimaryColumn({
    name: 'interview_id',
    type: 'uuid',
    primaryKeyConstraintName: 'interview_participants_pkey',
  })
  interviewId: string;

  @PrimaryColumn({
    name: 'platform_user_id',
    type: 'text',
    primaryKeyConstraintName: 'interview_participants_pkey',
  })
  platformUserId: string;

  /** Its interview's organisation (the composite foreign key keeps them equal). */
  @OrganizationIdColumn()
  organizationId: string;

  @ManyToOne('InterviewEntity', { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'interview_participants_interview_id_fkey',
    },
    { name: 'interview_id', referencedColumnName: 'id' },
  ])
  interview?: InterviewEntity;

  @Column({ type: 'text' })
  role: ParticipantRole;

  @Column({ type: 'text', default: 'pending' })
  rsvp: Rsvp;

  @Column({ name: 'responded_at', type: 'timestamptz', nullable: true })
  respondedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
