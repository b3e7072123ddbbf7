import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';

import { OrganizationIdColumn } from '../database/organization-column.js';
import type { Organization } from '../organizations/organization.js';

import { type Language, type MappingSource, type MappingStatus } from './member.js';

export { LANGUAGES, MAPPING_SOURCES, MAPPING_STATUSES } from './member.js';
export type { Language, MappingSource, MappingStatus } from './member.js';

/**
 * A platform user and their WeCom member, per organisation and corp; unique both ways (in the
 * database).
 * Indexes and checks are written in the migration (one is on lower(wecom_user_id), which
 * TypeORM cannot express); they are named here so `migration:generate` sees no difference.
 */
@Entity('user_mappings')
@Index('user_mappings_platform_uq', { synchronize: false })
@Index('user_mappings_wecom_uq', { synchronize: false })
@Index('user_mappings_created_idx', { synchronize: false })
@Index('user_mappings_platform_prefix_idx', { synchronize: false })
@Index('user_mappings_wecom_prefix_idx', { synchronize: false })
@Check('user_mappings_platform_user_id_check', 'length(platform_user_id) BETWEEN 1 AND 128')
@Check('user_mappings_wecom_user_id_check', 'length(wecom_user_id) BETWEEN 1 AND 64')
@Check('user_mappings_source_check', `source IN ('admin', 'oauth', 'mobile', 'email')`)
@Check('user_mappings_language_check', `language IN ('zh', 'en')`)
@Check('user_mappings_status_check', `status IN ('active', 'disabled', 'left')`)
export class UserMappingEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** The organisation the row belongs to (filled in from the transaction's, see OrganizationIdColumn). */
  @OrganizationIdColumn()
  organizationId: string;

  @ManyToOne('OrganizationEntity')
  @JoinColumn({
    name: 'organization_id',
    foreignKeyConstraintName: 'user_mappings_organization_id_fkey',
  })
  organization?: Organization;

  @Column({ name: 'corp_id', type: 'text' })
  corpId: string;

  @Column({ name: 'platform_user_id', type: 'text' })
  platformUserId: string;

  @Column({ name: 'wecom_user_id', type: 'text' })
  wecomUserId: string;

  /**
   * lower(platform_user_id) and lower(wecom_user_id), kept by PostgreSQL, for the prefix search:
   * an index on the expression is not used under row-level security (migration
   * UserMappingSearch says why). Never written, never read into the entity.
   */
  @Column({
    name: 'platform_user_id_lower',
    type: 'text',
    generatedType: 'STORED',
    asExpression: 'lower(platform_user_id)',
    select: false,
    insert: false,
    update: false,
  })
  platformUserIdLower?: string;

  @Column({
    name: 'wecom_user_id_lower',
    type: 'text',
    generatedType: 'STORED',
    asExpression: 'lower(wecom_user_id)',
    select: false,
    insert: false,
    update: false,
  })
  wecomUserIdLower?: string;

  @Column({ type: 'text' })
  source: MappingSource;

  @Column({ type: 'text', default: 'zh' })
  language: Language;

  /** Follows WeCom's contact events (change_contact); only `active` mappings are sent to. */
  @Column({ type: 'text', default: 'active' })
  status: MappingStatus;

  @Column({ name: 'status_changed_at', type: 'timestamptz', nullable: true })
  statusChangedAt: Date | null;

  @Column({ name: 'created_by', type: 'text', nullable: true })
  createdBy: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
