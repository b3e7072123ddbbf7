import {
  Check,
  Column,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';

import { OrganizationIdColumn } from '../../database/organization-column.js';
import type { Organization } from '../../organizations/organization.js';

/**
 * A callback WeCom sent us, decrypted and accepted. `dedupeKey` is unique per organisation: WeCom
 * retries a callback it thinks went unanswered, and the retry must not be processed again.
 * Indexes and checks live in the migration; named here so `migration:generate` sees no difference.
 */
@Entity('wecom_events')
@Index('wecom_events_dedupe_uq', { synchronize: false })
@Index('wecom_events_pending_idx', { synchronize: false })
@Check('wecom_events_dedupe_key_check', 'length(dedupe_key) BETWEEN 1 AND 1024')
@Check('wecom_events_msg_type_check', 'length(msg_type) BETWEEN 1 AND 64')
export class WeComEventEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  /** The organisation the row belongs to (filled in from the transaction's, see OrganizationIdColumn). */
  @OrganizationIdColumn()
  organizationId: string;

  @ManyToOne('OrganizationEntity')
  @JoinColumn({
    name: 'organization_id',
    foreignKeyConstraintName: 'wecom_events_organization_id_fkey',
  })
  organization?: Organization;

  @Column({ name: 'dedupe_key', type: 'text' })
  dedupeKey: string;

  /** MsgType: `event`, `text`, ... */
  @Column({ name: 'msg_type', type: 'text' })
  msgType: string;

  /** Event, for MsgType `event` (e.g. `template_card_event`). */
  @Column({ type: 'text', nullable: true })
  event: string | null;

  @Column({ name: 'from_user', type: 'text' })
  fromUser: string;

  @Column({ name: 'agent_id', type: 'integer', nullable: true })
  agentId: number | null;

  @Column({ name: 'create_time', type: 'timestamptz' })
  createTime: Date;

  /** The decrypted inner XML, as WeCom sent it. */
  @Column({ type: 'text' })
  body: string;

  @Column({ name: 'received_at', type: 'timestamptz' })
  receivedAt: Date;

  /** When the handlers were started (claimed); null while not yet dispatched. */
  @Column({ name: 'processed_at', type: 'timestamptz', nullable: true })
  processedAt: Date | null;

  @Column({ name: 'handler_error', type: 'text', nullable: true })
  handlerError: string | null;
}
