/** The roles of an organisation's people: every organisation-scoped route needs one of these. */
export const ORGANIZATION_ROLES = ['admin', 'recruiter', 'interviewer'] as const;
export type OrganizationRole = (typeof ORGANIZATION_ROLES)[number];

/**
 * Every role a token may carry. `operator` runs the platform (creates, renames, suspends
 * organisations at /api/organizations) and works on organisations, never inside one: it reaches
 * no organisation's data.
 */
export const ROLES = [...ORGANIZATION_ROLES, 'operator'] as const;
export type Role = (typeof ROLES)[number];

/** Longest `org` claim accepted: a uuid (36) or a slug (63) fits, anything longer is no name. */
export const ORGANIZATION_CLAIM_MAX_LENGTH = 64;

/** Who is calling, from the platform's JWT. */
export interface AuthUser {
  /** Platform user id (`sub`). */
  id: string;
  roles: Role[];
  /** The `org` claim: the organisation the token is for, by id or slug (absent: see below). */
  organization?: string;
}
