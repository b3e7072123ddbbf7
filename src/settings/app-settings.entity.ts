import {
  Column,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  Unique,
} from 'typeorm';

import { OrganizationIdColumn } from '../database/organization-column.js';
import type { Organization } from '../organizations/organization.js';

/** The settings an admin edits (everything but the credentials), stored as one JSON object. */
export interface SettingsOptions {
  /** Minutes before the start at which reminders go, ascending, unique. */
  reminderLeadTimesMin: number[];
  /** Minutes after the end for the feedback nudge; 0 is off. */
  feedbackNudgeMin: number;
  /** No non-urgent message between start and end (HH:MM, recipient's local time); null is off. */
  quietHours: { start: string; end: string } | null;
  defaultLanguage: 'zh' | 'en';
}

/** The secrets, each sealed by SecretBox; an absent key is "not set". */
export interface SealedSecrets {
  corpSecret?: string;
  callbackToken?: string;
  callbackAesKey?: string;
}

/**
 * An organisation's runtime configuration (one row each), shared by every instance. `version`
 * goes up with every change; instances poll it and reload. Seeded from the environment at first
 * start. A WeCom app (corp id and agent id) is configured for one organisation only.
 */
@Entity('app_settings')
@Unique('app_settings_corp_agent_key', ['corpId', 'agentId'])
export class AppSettingsEntity {
  /** Whose settings (filled in from the transaction's organisation on insert). */
  @OrganizationIdColumn({ primary: true })
  organizationId: string;

  @ManyToOne('OrganizationEntity')
  @JoinColumn({
    name: 'organization_id',
    foreignKeyConstraintName: 'app_settings_organization_id_fkey',
  })
  organization?: Organization;

  @Column({ type: 'bigint' })
  version: string;

  /** Seeded for the built-in simulator; a start with real credentials re-seeds them. */
  @Column({ type: 'boolean' })
  sandbox: boolean;

  @Column({ name: 'corp_id', type: 'text' })
  corpId: string;

  @Column({ name: 'agent_id', type: 'integer' })
  agentId: number;

  @Column({ type: 'jsonb' })
  secrets: SealedSecrets;

  @Column({ type: 'jsonb' })
  options: SettingsOptions;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'updated_by', type: 'text', nullable: true })
  updatedBy: string | null;
}

/** Who changed which settings when (names of fields only, never values of secrets). */
@Entity('config_audit')
@Index('config_audit_at_idx', ['organizationId', 'at', 'id'])
export class ConfigAuditEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  /** Whose settings were changed (filled in from the transaction's organisation). */
  @OrganizationIdColumn()
  organizationId: string;

  @ManyToOne('OrganizationEntity')
  @JoinColumn({
    name: 'organization_id',
    foreignKeyConstraintName: 'config_audit_organization_id_fkey',
  })
  organization?: Organization;

  @Column({ type: 'timestamptz' })
  at: Date;

  /** JWT subject of the admin, or `system` for seeding and key rotation. */
  @Column({ type: 'text' })
  actor: string;

  /** `update`, `seed`, `reseal`, `check`. */
  @Column({ type: 'text' })
  action: string;

  @Column({ type: 'text', array: true })
  fields: string[];

  /** `applied` or `rejected`. */
  @Column({ type: 'text' })
  outcome: string;

  /** Why it was rejected (a WeCom errcode), or null. */
  @Column({ type: 'text', nullable: true })
  detail: string | null;

  /** The settings version the change produced. */
  @Column({ type: 'bigint', nullable: true })
  version: string | null;

  @Column({ name: 'request_id', type: 'text', nullable: true })
  requestId: string | null;
}
