import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';

import { OrganizationIdColumn } from '../database/organization-column.js';
import type { Organization } from '../organizations/organization.js';

/** A sign-in in progress: the OAuth `state` nonce and where to send the browser afterwards. */
@Entity('oauth_states')
@Index('oauth_states_expires_idx', { synchronize: false })
@Check('oauth_states_nonce_check', 'length(nonce) BETWEEN 16 AND 64')
@Check('oauth_states_redirect_check', 'length(redirect) BETWEEN 1 AND 2048')
export class OAuthStateEntity {
  @PrimaryColumn({ type: 'text' })
  nonce: string;

  /** The organisation the sign-in is for (filled in from the transaction's, see OrganizationIdColumn). */
  @OrganizationIdColumn()
  organizationId: string;

  @ManyToOne('OrganizationEntity')
  @JoinColumn({
    name: 'organization_id',
    foreignKeyConstraintName: 'oauth_states_organization_id_fkey',
  })
  organization?: Organization;

  @Column({ type: 'text' })
  redirect: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;
}
