import { Column, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

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
 * An organisation's runtime configuration, shared by every instance: one row per organisation,
 * written on its first save (`default`'s seeded from the environment at first start). `version`
 * goes up with every change; instances poll it and reload. A WeCom app (corp id, agent id)
 * belongs to one organisation at most (`app_settings_wecom_app_uq`).
 */
@Entity('app_settings')
@Index('app_settings_wecom_app_uq', ['corpId', 'agentId'], { unique: true })
export class AppSettingsEntity {
  @PrimaryColumn({ name: 'organization_id', type: 'uuid' })
  organizationId: string;

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

  /** Filled by the column's default from the transaction's organisation. */
  @Column({ name: 'organization_id', type: 'uuid' })
  organizationId: string;

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
