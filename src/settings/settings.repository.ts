import { Injectable } from '@nestjs/common';

import { requireOrganizationScope } from '../common/organization-scope.js';
import { TransactionHost } from '../database/transaction-host.js';
import { AppSettingsEntity, ConfigAuditEntity } from './app-settings.entity.js';

/** An audit entry as stored, before it gets an id (its organisation is the scope's). */
export type NewConfigAudit = Omit<ConfigAuditEntity, 'id' | 'organizationId'>;

/** The organisation every statement here is for: the scope's, never an argument. */
const organizationId = () => requireOrganizationScope('The settings of an organisation').id;

/**
 * The settings module's tables: `app_settings` (one row per organisation) and `config_audit`.
 * Every statement names the organisation of the scope explicitly (row-level security filters the
 * same way under the app role; a superuser connection is filtered here alone). Every method runs
 * in the caller's transaction when one is open (TransactionHost).
 */
@Injectable()
export class SettingsRepository {
  constructor(private readonly db: TransactionHost) {}

  /** The stored version alone: what the poll reads every few seconds, so it is cheap. */
  async version(): Promise<number | null> {
    const rows: { version: string }[] = await this.db.run((m) =>
      m.query('SELECT version FROM app_settings WHERE organization_id = $1', [organizationId()]),
    );
    return rows[0] ? Number(rows[0].version) : null;
  }

  find(): Promise<AppSettingsEntity | null> {
    const where = { organizationId: organizationId() };
    return this.db.run((m) => m.getRepository(AppSettingsEntity).findOneBy(where));
  }

  get(): Promise<AppSettingsEntity> {
    const where = { organizationId: organizationId() };
    return this.db.run((m) => m.getRepository(AppSettingsEntity).findOneByOrFail(where));
  }

  /**
   * The row, locked until the transaction ends (two admins' changes get successive versions), or
   * null while the organisation has none.
   */
  findForUpdate(): Promise<AppSettingsEntity | null> {
    const where = { organizationId: organizationId() };
    return this.db.run((m) =>
      m.findOne(AppSettingsEntity, { where, lock: { mode: 'pessimistic_write' } }),
    );
  }

  /**
   * Serialises the creation of the organisation's row across instances (two first saves, or two
   * instances seeding `default` at once); released when the transaction ends.
   */
  async lockForCreation(): Promise<void> {
    await this.db.run((m) =>
      m.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`app_settings:${organizationId()}`]),
    );
  }

  async save(row: AppSettingsEntity): Promise<AppSettingsEntity> {
    return this.db.run((m) => m.getRepository(AppSettingsEntity).save(row));
  }

  /**
   * Builds the scope's row, runs no statement: a promise only because managers come through
   * `run`.
   */
  create(row: Omit<AppSettingsEntity, 'organizationId'>): Promise<AppSettingsEntity> {
    const scoped = { ...row, organizationId: organizationId() };
    return this.db.run(async (m) => m.getRepository(AppSettingsEntity).create(scoped));
  }

  /** Inserts an entry for the scope's organisation (the column's default names it). */
  async addAudit(entry: NewConfigAudit): Promise<void> {
    await this.db.run((m) => m.insert(ConfigAuditEntity, entry));
  }

  /** The organisation's audit entries newest first, `limit` of them, older than `beforeId`. */
  listAudit(limit: number, beforeId?: string): Promise<ConfigAuditEntity[]> {
    const organization = organizationId();
    return this.db.run((m) => {
      const qb = m
        .getRepository(ConfigAuditEntity)
        .createQueryBuilder('a')
        .where('a.organization_id = :organization', { organization })
        .orderBy('a.id', 'DESC')
        .take(limit);
      if (beforeId) qb.andWhere('a.id < :before', { before: beforeId });
      return qb.getMany();
    });
  }
}
