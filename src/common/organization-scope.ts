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

/**
 * Work that belongs to an organisation ran without one: a programming error (a request handler or
 * a job that forgot its scope), never a user's, and never a reason to fall back to `default`.
 * Failing loudly is the point: the alternative is a query that, under row-level security,
 * silently sees nothing, or a token or setting of the wrong organisation. TransactionHost throws
 * it before touching the database; what holds organisations' state in memory (RuntimeSettings,
 * AccessTokenProvider) before touching that.
 */
export class NoOrganizationScopeError extends Error {
  override name = 'NoOrganizationScopeError';

  constructor(what?: string) {
    super(
      `${what ? `${what}: ` : ''}no organisation scope: run this work inside organizationScope.run(...) or ` +
        'OrganizationsService.within(organization, ...), or use TransactionHost.unscoped for ' +
        'tables that belong to no organisation',
    );
  }
}

/** The organisation of the work in progress; throws when there is none (never a default). */
export function requireOrganizationScope(what: string): OrganizationScope {
  const scope = organizationScope.get();
  if (!scope) throw new NoOrganizationScopeError(what);
  return scope;
}
