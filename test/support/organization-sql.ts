import type { DataSource, EntityManager } from 'typeorm';

import { DEFAULT_ORGANIZATION } from '../../src/organizations/organization.js';

/**
 * Runs raw SQL (fixtures written past the repositories) in one transaction whose
 * `app.organization_id` is the given organisation's, `default` unless named: what TransactionHost
 * sets for a scoped transaction, so the rows' organization_id defaults to it.
 */
export function sqlInOrganization<T>(
  dataSource: DataSource,
  work: (manager: EntityManager) => Promise<T>,
  organizationId: string = DEFAULT_ORGANIZATION.id,
): Promise<T> {
  return dataSource.transaction(async (manager) => {
    await manager.query(`SELECT set_config('app.organization_id', $1, true)`, [organizationId]);
    return work(manager);
  });
}
