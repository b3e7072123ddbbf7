import { organizationScope, type OrganizationScope } from '../../src/common/organization-scope.js';
import { DEFAULT_ORGANIZATION } from '../../src/organizations/organization.js';

/**
 * Runs `work` in an organisation's scope, as a request or a job would: every transaction it opens
 * (TransactionHost) sets that organisation. For medium and unit specs that call services and
 * repositories directly; `default` unless another organisation is given.
 */
export function inOrganization<T>(
  work: () => T,
  organization: OrganizationScope = DEFAULT_ORGANIZATION,
): T {
  return organizationScope.run({ id: organization.id, slug: organization.slug }, work);
}
