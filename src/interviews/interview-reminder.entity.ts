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
} from 'typeorm';

import { OrganizationIdColumn } from '../database/organization-column.js';
import type { InterviewEntity } from './interview.entity.js';

export const REMINDER_KINDS = ['before_start', 'feedback'] as const;
export type ReminderKind = (typeof REMINDER_KINDS)[number];
export const REMINDER_STATES = ['pending', 'sent', 'canceled', 'missed'] as const;
export type ReminderState = (typeof REMINDER_STATES)[number];

/**
 * A reminder due at a fixed time: `lead_minutes` before the start (`before_start`), or after
 * the end (`feedback`). ReminderScheduler claims the pending ones that are due.
 */
@Entity('interview_reminders')
@Unique('interview_reminders_uq', ['interviewId', 'kind', 'leadMinutes'])
@Index('interview_reminders_due_idx', { synchronize: false })
@Index('interview_reminders_message_idx', { synchronize: false })
@Check('interview_reminders_kind_check', `kind IN ('before_start', 'feedback')`)
@Check('interview_reminders_lead_minutes_check', 'lead_minutes >= 0')
@Check('interview_reminders_state_check', `state IN ('pending', 'sent', 'canceled', 'missed')`)
export class InterviewReminderEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** Its interview's organisation, and its message's (the composite foreign keys keep them equal). */
  @OrganizationIdColumn()
  organizationId: string;

  @Column({ name: 'interview_id', type: 'uuid' })
  interviewId: string;

  @ManyToOne('InterviewEntity', { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'interview_reminders_interview_id_fkey',
    },
    { name: 'interview_id', referencedColumnName: 'id' },
  ])
  interview?: InterviewEntity;

  @Column({ type: 'text' })
  kind: ReminderKind;

  @Column({ name: 'lead_minutes', type: 'integer' })
  leadMinutes: number;

  @Column({ name: 'due_at', type: 'timestamptz' })
  dueAt: Date;

  @Column({ type: 'text', default: 'pending' })
  state: ReminderState;

  @Column({ name: 'message_id', type: 'uuid', nullable: true })
  messageId: string | null;

  // The message that carried it (messaging's table). Declared so the entities match the
  // migration's foreign key; interviews never load it, so it is not typed with messaging's entity.
  // In the database a deleted message sets message_id alone to NULL (ON DELETE SET NULL
  // (message_id)), which TypeORM cannot say; it compares the action, SET NULL, only.
  @ManyToOne('MessageEntity', { onDelete: 'SET NULL' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'interview_reminders_message_id_fkey',
    },
    { name: 'message_id', referencedColumnName: 'id' },
  ])
  message?: unknown;

  @Column({ name: 'processed_at', type: 'timestamptz', nullable: true })
  processedAt: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
