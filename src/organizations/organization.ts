import type { OrganizationScope } from '../common/organization-scope.js';

export const ORGANIZATION_STATUSES = ['active', 'suspended'] as const;
export type OrganizationStatus = (typeof ORGANIZATION_STATUSES)[number];

/** A company using the service: its own WeCom app, members, interviews and messages. */
export interface Organization {
  id: string;
  slug: string;
  name: string;
  status: OrganizationStatus;
  /** WeCom userids of its own corp who may sign in to the admin console, as the operator gave them. */
  consoleAdmins: string[];
  /** Counts changes to the row (the ETag of the operator routes). */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * The organisation every existing row was moved into, and the one the environment's WeCom
 * settings (or the sandbox) belong to. Its id is fixed so that specs and docs can name it.
 */
export const DEFAULT_ORGANIZATION: OrganizationScope = Object.freeze({
  id: '00000000-0000-0000-0000-000000000001',
  slug: 'default',
});

/** Lower-case letters, digits and dashes, 2 to 63 characters, not starting with a dash. */
export const ORGANIZATION_SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;

export function scopeOf(organization: Pick<Organization, 'id' | 'slug'>): OrganizationScope {
  return { id: organization.id, slug: organization.slug };
}
