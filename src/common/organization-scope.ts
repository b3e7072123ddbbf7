import { ContextSlot } from './async-context.js';

/** The organisation a request or a job works for (docs/design/organisations.md, section 2). */
export interface OrganizationScope {
  id: string;
  slug: string;
}

/**
 * Carries the organisation through every await of the work done for it. A slot of the one
 * AsyncLocalStorage (a second one would cost every request), set where a request or a job learns
 * its organisation (OrganizationScopeInterceptor, OrganizationsService.within) and read by
 * TransactionHost, which sets `app.organization_id` from it on every transaction it opens.
 */
export const organizationScope = new ContextSlot<OrganizationScope>('organization');

/** Work that belongs to an organisation ran outside any: a programming error, never a fallback. */
export class NoOrganizationScopeError extends Error {
  override name = 'NoOrganizationScopeError';

  constructor(what: string) {
    super(`${what} needs an organisation scope, and none is set`);
  }
}

/** The organisation of the work in progress; throws when there is none (never a default). */
export function requireOrganizationScope(what: string): OrganizationScope {
  const scope = organizationScope.get();
  if (!scope) throw new NoOrganizationScopeError(what);
  return scope;
}
