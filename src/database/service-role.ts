import type { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';

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

/**
 * Row-level security binds this role: PostgreSQL skips every policy for a superuser or a
 * BYPASSRLS role, whatever FORCE ROW LEVEL SECURITY says.
 */
export function rowLevelSecurityApplies(role: ServiceRole): boolean {
  return !role.superuser && !role.bypassesRowLevelSecurity;
}

/**
 * What the service does at start-up about the role it serves as. Today it warns: with one
 * organisation there is nobody to isolate from. Once the organizations table exists (#12), this
 * is where the service refuses to start when more than one organisation exists and
 * `rowLevelSecurityApplies` is false (see docs/design/organisations.md, section 5).
 */
export function checkServiceRole(role: ServiceRole, logger: Logger): void {
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
