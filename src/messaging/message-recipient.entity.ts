import {
  Check,
  Column,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';

import { OrganizationIdColumn } from '../database/organization-column.js';
import type { MessageEntity } from './message.entity.js';

export const RECIPIENT_STATUSES = [
  'pending',
  'sending',
  'delivered',
  'invalid_user',
  'unlicensed',
  'no_mapping',
  'rate_limited',
  'failed',
  /** The member's mapping is inactive (they left WeCom or were disabled): nothing was sent. */
  'inactive_mapping',
] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

/** One person a message is for, and what became of it for them. */
@Entity('message_recipients')
@Index('message_recipients_message_idx', { synchronize: false })
@Index('message_recipients_pacing_idx', { synchronize: false })
@Index('message_recipients_platform_idx', { synchronize: false })
@Index('message_recipients_send_key_idx', { synchronize: false })
@Check(
  'message_recipients_status_check',
  `status IN ('pending', 'sending', 'delivered', 'invalid_user', 'unlicensed', 'no_mapping', 'rate_limited', 'failed', 'inactive_mapping')`,
)
@Check('message_recipients_check', 'platform_user_id IS NOT NULL OR wecom_user_id IS NOT NULL')
export class MessageRecipientEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  /** Its message's organisation (the composite foreign key keeps them equal). */
  @OrganizationIdColumn()
  organizationId: string;

  @Column({ name: 'message_id', type: 'uuid' })
  messageId: string;

  @ManyToOne('MessageEntity', 'recipients', { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'message_recipients_message_id_fkey',
    },
    { name: 'message_id', referencedColumnName: 'id' },
  ])
  message?: MessageEntity;

  @Column({ name: 'platform_user_id', type: 'text', nullable: true })
  platformUserId: string | null;

  @Column({ name: 'wecom_user_id', type: 'text', nullable: true })
  wecomUserId: string | null;

  /**
   * lower(wecom_user_id), kept by PostgreSQL, for member pacing: an index on the expression is not
   * used under row-level security (migration RecipientPacingColumn says why). Never written,
   * never read into the entity.
   */
  @Column({
    name: 'wecom_user_id_lower',
    type: 'text',
    nullable: true,
    generatedType: 'STORED',
    asExpression: 'lower(wecom_user_id)',
    select: false,
    insert: false,
    update: false,
  })
  wecomUserIdLower?: string | null;

  @Column({ type: 'text', default: 'pending' })
  status: RecipientStatus;

  /** Held back until then by the per-member pacing (30 a minute). */
  @Column({ name: 'not_before', type: 'timestamptz', nullable: true })
  notBefore: Date | null;

  @Column({ name: 'last_attempt_at', type: 'timestamptz', nullable: true })
  lastAttemptAt: Date | null;

  @Column({ name: 'wecom_msgid', type: 'text', nullable: true })
  wecomMsgid: string | null;

  @Column({ name: 'response_code', type: 'text', nullable: true })
  responseCode: string | null;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt: Date | null;

  /** Set when the recipient went out in a call shared with other messages' recipients. */
  @Column({ name: 'send_key', type: 'text', nullable: true })
  sendKey: string | null;
}
