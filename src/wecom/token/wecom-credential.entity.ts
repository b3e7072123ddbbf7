import { Check, Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';

import { OrganizationIdColumn } from '../../database/organization-column.js';
import type { Organization } from '../../organizations/organization.js';

/** What a cached WeCom credential is: the app's access token or one of its JS-SDK tickets. */
export type WeComCredentialKind = 'access_token' | 'jsapi_corp_ticket' | 'jsapi_agent_ticket';

/**
 * Access tokens and tickets shared by every instance and every restart, one row per
 * (organisation, kind, corp, agent). A restart reuses a valid row instead of calling gettoken.
 */
@Entity('wecom_credentials')
@Check('wecom_credentials_renew_check', 'renew_at >= expires_at')
@Check(
  'wecom_credentials_kind_check',
  `kind IN ('access_token', 'jsapi_corp_ticket', 'jsapi_agent_ticket')`,
)
export class WeComCredentialEntity {
  /** The organisation whose app the credential is for (filled in from the transaction's). */
  @OrganizationIdColumn({ primary: true })
  organizationId: string;

  @ManyToOne('OrganizationEntity')
  @JoinColumn({
    name: 'organization_id',
    foreignKeyConstraintName: 'wecom_credentials_organization_id_fkey',
  })
  organization?: Organization;

  @PrimaryColumn({ type: 'text' })
  kind: WeComCredentialKind;

  @PrimaryColumn({ name: 'corp_id', type: 'text' })
  corpId: string;

  @PrimaryColumn({ name: 'agent_id', type: 'integer' })
  agentId: number;

  /** Sealed (SecretBox): a database dump holds no usable token. */
  @Column({ type: 'text' })
  value: string;

  /** sha256 of the plaintext, for compare-and-set invalidation. */
  @Column({ name: 'value_fingerprint', type: 'text' })
  valueFingerprint: string;

  /** The earliest the value can expire: handed out until then; never later for the same value. */
  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  /** The latest it can expire: from then on WeCom is certain to issue a new one. */
  @Column({ name: 'renew_at', type: 'timestamptz' })
  renewAt: Date;

  /** When the last call for this key started, whatever it returned (calls are 5 s apart). */
  @Column({ name: 'fetched_at', type: 'timestamptz' })
  fetchedAt: Date;

  /**
   * Start of a call whose answer never came (timed out) since the last answer: WeCom may have
   * issued a token then that comes back later as a repeat, its life counted from here.
   */
  @Column({ name: 'unanswered_at', type: 'timestamptz', nullable: true })
  unansweredAt: Date | null;
}
