import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

import type { OrganizationStatus } from './organization.js';

/**
 * The `organizations` table. It holds no company data and is not under row-level security: every
 * request and job resolves its organisation here before it has a scope.
 */
@Entity('organizations')
@Index('organizations_slug_uq', ['slug'], { unique: true })
@Check('organizations_slug_check', `slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'`)
@Check('organizations_name_check', 'length(name) BETWEEN 1 AND 200')
@Check('organizations_status_check', `status IN ('active', 'suspended')`)
@Check('organizations_console_admins_check', 'cardinality(console_admins) <= 100')
@Check('organizations_version_check', 'version >= 1')
export class OrganizationEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  slug: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', default: 'active' })
  status: OrganizationStatus;

  /** WeCom userids of its corp who may sign in to the admin console (set by the operator). */
  @Column({ name: 'console_admins', type: 'text', array: true, default: () => "'{}'" })
  consoleAdmins: string[];

  /** Counts changes: the ETag of GET/PATCH /api/organizations/:id. */
  @Column({ type: 'integer', default: 1 })
  version: number;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt: Date;
}
