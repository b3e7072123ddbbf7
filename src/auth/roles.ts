export const ROLES = ['admin', 'recruiter', 'interviewer'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling, from the platform's JWT. */
export interface AuthUser {
  /** Platform user id (`sub`). */
  id: string;
  roles: Role[];
  /** The organisation the token is for (`org`: its slug or id); absent in older tokens. */
  organization?: string;
}
