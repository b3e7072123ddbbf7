import { Column, type FindOperator, PrimaryColumn, Raw } from 'typeorm';

/**
 * The organisation the open transaction works for, in SQL: `app.organization_id`, which
 * TransactionHost sets at the start of each transaction, or NULL when none is set. It is the
 * default of every organisation-owned table's `organization_id` (NOT NULL, so an insert made
 * without an organisation fails instead of landing in one), and what a statement names when an
 * index leading with organization_id must serve it (docs/design/organisations.md, section 3).
 */
export const CURRENT_ORGANIZATION_ID = 'current_organization_id()';

/**
 * `organization_id` as every organisation-owned entity declares it (migration
 * 1764500000001-OrganizationColumns). Inserts leave it out: the database fills it in from the
 * transaction's organisation.
 */
export function OrganizationIdColumn(options: { primary?: boolean } = {}): PropertyDecorator {
  const column = {
    name: 'organization_id',
    type: 'uuid',
    default: () => CURRENT_ORGANIZATION_ID,
  } as const;
  return options.primary ? PrimaryColumn(column) : Column(column);
}

/**
 * A find-options condition on `organizationId`: the transaction's organisation. For the few
 * reads that must name it: one row per organisation (app_settings), or an index leading with it.
 */
export function inCurrentOrganization(): FindOperator<string> {
  return Raw((column) => `${column} = ${CURRENT_ORGANIZATION_ID}`);
}
