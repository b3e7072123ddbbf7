import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';

import { OrganizationIdColumn } from '../database/organization-column.js';
import type { Organization } from '../organizations/organization.js';

export const INTERVIEW_STATUSES = ['scheduled', 'canceled', 'completed'] as const;
export type InterviewStatus = (typeof INTERVIEW_STATUSES)[number];

/**
 * One booked interview. `version` grows by one with every change: clients send it back
 * (If-Match) so that two recruiters editing at once cannot overwrite each other, and the
 * notification idempotency keys carry it so each change notifies exactly once.
 */
// Indexes and checks live in the migration; named here so `migration:generate` sees no difference.
@Entity('interviews')
// What the participants' and reminders' composite foreign keys reference.
@Unique('interviews_organization_id_id_key', ['organizationId', 'id'])
@Index('interviews_created_idx', { synchronize: false })
@Index('interviews_starts_idx', { synchronize: false })
@Check('interviews_title_check', 'length(title) BETWEEN 1 AND 200')
@Check('interviews_candidate_name_check', 'length(candidate_name) BETWEEN 1 AND 100')
@Check('interviews_duration_minutes_check', 'duration_minutes BETWEEN 15 AND 480')
@Check('interviews_timezone_check', 'length(timezone) BETWEEN 1 AND 64')
@Check(
  'interviews_room_url_check',
  `room_url ~ '^https://[^[:space:]]+$' AND length(room_url) <= 2048`,
)
@Check('interviews_status_check', `status IN ('scheduled', 'canceled', 'completed')`)
@Check('interviews_version_check', 'version >= 1')
export class InterviewEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The organisation the row belongs to (filled in from the transaction's, see OrganizationIdColumn). */
  @OrganizationIdColumn()
  organizationId: string;

  @ManyToOne('OrganizationEntity')
  @JoinColumn({
    name: 'organization_id',
    foreignKeyConstraintName: 'interviews_organization_id_fkey',
  })
  organization?: Organization;

  @Column({ type: 'text' })
  title: string;

  @Column({ type: 'text', nullable: true })
  position: string | null;

  @Column({ name: 'candidate_name', type: 'text' })
  candidateName: string;

  @Column({ name: 'candidate_email', type: 'text', nullable: true })
  candidateEmail: string | null;

  @Column({ name: 'candidate_phone', type: 'text', nullable: true })
  candidatePhone: string | null;

  @Column({ name: 'candidate_platform_user_id', type: 'text', nullable: true })
  candidatePlatformUserId: string | null;

  @Column({ name: 'starts_at', type: 'timestamptz' })
  startsAt: Date;

  @Column({ name: 'duration_minutes', type: 'integer' })
  durationMinutes: number;

  /** IANA zone the interview is held in; times in messages are shown in it. */
  @Column({ type: 'text', default: 'Asia/Shanghai' })
  timezone: string;

  @Column({ name: 'room_url', type: 'text' })
  roomUrl: string;

  @Column({ type: 'text', default: 'scheduled' })
  status: InterviewStatus;

  @Column({ name: 'cancel_reason', type: 'text', nullable: true })
  cancelReason: string | null;

  @Column({ type: 'integer', default: 1 })
  version: number;

  @Column({ name: 'created_by', type: 'text' })
  createdBy: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
