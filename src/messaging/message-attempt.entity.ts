import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';

import { OrganizationIdColumn } from '../database/organization-column.js';
import { MessageEntity } from './message.entity.js';

/** One HTTP call made for a message: when, how long, what WeCom said. */
@Entity('message_attempts')
@Index('message_attempts_message_idx', { synchronize: false })
export class MessageAttemptEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  /** Its message's organisation (the composite foreign key keeps them equal). */
  @OrganizationIdColumn()
  organizationId: string;

  @Column({ name: 'message_id', type: 'uuid' })
  messageId: string;

  @ManyToOne(() => MessageEntity, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'message_attempts_message_id_fkey',
    },
    { name: 'message_id', referencedColumnName: 'id' },
  ])
  message?: MessageEntity;

  @Column({ name: 'started_at', type: 'timestamptz' })
  startedAt: Date;

  @Column({ name: 'latency_ms', type: 'integer' })
  latencyMs: number;

  @Column({ type: 'text' })
  path: string;

  @Column({ type: 'integer', nullable: true })
  errcode: number | null;

  @Column({ type: 'text' })
  errmsg: string;

  @Column({ name: 'http_status', type: 'integer', nullable: true })
  httpStatus: number | null;

  @Column({ name: 'recipient_count', type: 'integer' })
  recipientCount: number;
}
