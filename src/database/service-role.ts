import type { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';

import { StartupError } from '../common/startup-error.js';

/** The PostgreSQL role the service's pool connects as (DATABASE_URL), as the server sees it. */
export interface ServiceRole {
  name: string;
  superuser: boolean;
  bypassesRowLevelSecurity: boolean;
  /** The embedded PGlite: one user, always a superuser, nothing to configure. */
  embedded: boolean;
}

export async function readServiceRole(dataSource: Pick<DataSource, 'query'>): Promise<ServiceRole> {
  const [row]: { name: string; rolsuper: boolean; rolbypassrls: boolean; version: string }[] =
    await dataSource.query(
      `SELECT current_user AS name, r.rolsuper, r.rolbypassrls, version() AS version
         FROM pg_roles r WHERE r.rolname = current_user`,
    );
  return {
    name: row.name,
    superuser: row.rolsuper,
    bypassesRowLevelSecurity: row.rolbypassrls,
    // Asked of the server, not of DATABASE_URL: specs reach PGlite through a URL too.
    embedded: row.version.includes('PGlite'),
  };
}

/** How many organisations the database holds (the directory is not under row-level security). */
export async function readOrganizationCount(dataSource: DataSource): Promise<number> {
  const [row]: { n: number }[] = await dataSource.query(
    'SELECT count(*)::int AS n FROM organizations',
  );
  return row.n;
}

/**
 * Row-level security binds this role: PostgreSQL skips every policy for a superuser or a
 * BYPASSRLS role, whatever FORCE ROW LEVEL SECURITY says.
 */
export function rowLevelSecurityApplies(role: ServiceRole): boolean {
  return !role.superuser && !role.bypassesRowLevelSecurity;
}

/**
 * What the service does at start-up about the role it serves as (docs/design/organisations.md,
 * section 5). With more than one organisation it refuses to start (StartupError, one line) unless
 * row-level security binds the role: one company's requests could otherwise read another's rows
 * through any query that forgot its scope. With one organisation there is nobody to isolate
 * from, so a superuser or BYPASSRLS role is only warned about.
 */
export function checkServiceRole(role: ServiceRole, organizations: number, logger: Logger): void {
  if (organizations > 1 && !rowLevelSecurityApplies(role)) {
    throw new StartupError(
      role.embedded
        ? `The embedded database serves one organisation and this one holds ${organizations}: ` +
            `set DATABASE_URL to a PostgreSQL server and connect as a role with NOSUPERUSER ` +
            `NOBYPASSRLS (README: On a real PostgreSQL server)`
        : `Database role ${role.name} is ${role.superuser ? 'a superuser' : 'BYPASSRLS'} and ` +
            `${organizations} organisations exist: row-level security would not keep them apart. ` +
            `Connect DATABASE_URL as a role with NOSUPERUSER NOBYPASSRLS and migrate with ` +
            `DATABASE_MIGRATION_URL (README: On a real PostgreSQL server)`,
    );
  }
  if (role.embedded) {
    logger.debug(`Database role ${role.name}: the embedded database's only (super)user`);
    return;
  }
  if (rowLevelSecurityApplies(role)) {
    logger.log(`Database role ${role.name}: NOSUPERUSER NOBYPASSRLS, row-level security applies`);
    return;
  }
  const what = role.superuser ? 'a superuser' : 'BYPASSRLS';
  logger.warn(
    `Database role ${role.name} is ${what}: row-level security does not apply to it, so isolation ` +
      `between organisations is not enforced by the database. Connect DATABASE_URL as a role ` +
      `with NOSUPERUSER NOBYPASSRLS and migrate with DATABASE_MIGRATION_URL (README: On a real ` +
      `PostgreSQL server)`,
  );
}
