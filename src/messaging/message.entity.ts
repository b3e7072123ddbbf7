import {
  Check,
  Column,
  Index,
  CreateDateColumn,
  Entity,
  OneToMany,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';

import { OrganizationIdColumn } from '../database/organization-column.js';
import type { Organization } from '../organizations/organization.js';
import type { WeComMsgType } from '../wecom/client/wecom.types.js';
import type { MessageRecipientEntity } from './message-recipient.entity.js';

export const MESSAGE_STATUSES = [
  'queued',
  'sending',
  'sent',
  'partially_sent',
  'failed',
  'skipped',
  'recalled',
] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

/**
 * One notification: the outbox row the dispatcher claims, and its history. `content` is the
 * msgtype's body exactly as WeCom gets it (e.g. `{ "content": "..." }` for text).
 */
// Indexes and checks live in the migration; named here so `migration:generate` sees no difference.
@Entity('messages')
// What the recipients' and attempts' composite foreign keys reference.
@Unique('messages_organization_id_id_key', ['organizationId', 'id'])
@Index('messages_idempotency_uq', { synchronize: false })
@Index('messages_due_idx', { synchronize: false })
@Index('messages_created_idx', { synchronize: false })
@Index('messages_group_idx', { synchronize: false })
@Check(
  'messages_msgtype_check',
  `msgtype IN ('text', 'markdown', 'textcard', 'news', 'template_card')`,
)
@Check('messages_idempotency_key_check', 'length(idempotency_key) BETWEEN 1 AND 200')
@Check('messages_group_key_check', 'length(group_key) BETWEEN 1 AND 200')
@Check(
  'messages_status_check',
  `status IN ('queued', 'sending', 'sent', 'partially_sent', 'failed', 'skipped', 'recalled')`,
)
export class MessageEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The organisation the row belongs to (filled in from the transaction's, see OrganizationIdColumn). */
  @OrganizationIdColumn()
  organizationId: string;

  @ManyToOne('OrganizationEntity')
  @JoinColumn({
    name: 'organization_id',
    foreignKeyConstraintName: 'messages_organization_id_fkey',
  })
  organization?: Organization;

  @Column({ name: 'corp_id', type: 'text' })
  corpId: string;

  @Column({ name: 'agent_id', type: 'integer' })
  agentId: number;

  @Column({ type: 'text' })
  kind: string;

  @Column({ type: 'text' })
  msgtype: WeComMsgType;

  @Column({ type: 'jsonb' })
  content: Record<string, unknown>;

  @Column({ name: 'idempotency_key', type: 'text' })
  idempotencyKey: string;

  /**
   * Chosen by the sender for messages that go out together (the interviews module uses the
   * interview id): the dispatcher claims a group's due messages at once, so that identical cards
   * can share one WeCom call. Opaque to messaging.
   */
  @Column({ name: 'group_key', type: 'text', nullable: true })
  groupKey: string | null;

  @Column({ type: 'text', default: 'queued' })
  status: MessageStatus;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', nullable: true })
  nextAttemptAt: Date | null;

  @Column({ name: 'lease_until', type: 'timestamptz', nullable: true })
  leaseUntil: Date | null;

  @Column({ name: 'leased_by', type: 'text', nullable: true })
  leasedBy: string | null;

  @Column({ name: 'wecom_msgid', type: 'text', nullable: true })
  wecomMsgid: string | null;

  @Column({ name: 'response_code', type: 'text', nullable: true })
  responseCode: string | null;

  @Column({ name: 'last_errcode', type: 'integer', nullable: true })
  lastErrcode: number | null;

  @Column({ name: 'last_errmsg', type: 'text', nullable: true })
  lastErrmsg: string | null;

  @Column({ name: 'created_by', type: 'text', nullable: true })
  createdBy: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'sent_at', type: 'timestamptz', nullable: true })
  sentAt: Date | null;

  @OneToMany('MessageRecipientEntity', 'message')
  recipients?: MessageRecipientEntity[];
}
