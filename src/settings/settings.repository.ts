import { Injectable } from '@nestjs/common';

import { requireOrganizationScope } from '../common/organization-scope.js';
import { CURRENT_ORGANIZATION_ID, inCurrentOrganization } from '../database/organization-column.js';
import { TransactionHost } from '../database/transaction-host.js';
import { AppSettingsEntity, ConfigAuditEntity } from './app-settings.entity.js';

/** An audit entry as stored, before it gets an id (its organisation is the transaction's). */
export type NewConfigAudit = Omit<ConfigAuditEntity, 'id' | 'organizationId' | 'organization'>;

/** A settings row as first written (its organisation is the transaction's). */
export type NewAppSettings = Omit<AppSettingsEntity, 'organizationId' | 'organization'>;

/**
 * The settings module's tables: `app_settings` (one row per organisation) and `config_audit`.
 * Every method runs in the caller's transaction when one is open (TransactionHost), and reads the
 * current organisation's rows: they name it, since one row per organisation is the key and
 * nothing else tells the rows apart.
 */
@Injectable()
export class SettingsRepository {
  constructor(private readonly db: TransactionHost) {}

  /** The stored version alone: what the poll reads every few seconds, so it is cheap. */
  async version(): Promise<number | null> {
    const rows: { version: string }[] = await this.db.run((m) =>
      m.query(
        `SELECT version FROM app_settings WHERE organization_id = ${CURRENT_ORGANIZATION_ID}`,
      ),
    );
    return rows[0] ? Number(rows[0].version) : null;
  }

  find(): Promise<AppSettingsEntity | null> {
    return this.db.run((m) =>
      m.getRepository(AppSettingsEntity).findOneBy({ organizationId: inCurrentOrganization() }),
    );
  }

  /**
   * The row, locked until the transaction ends (two admins' changes get successive versions), or
   * null while the organisation has none.
   */
  findForUpdate(): Promise<AppSettingsEntity | null> {
    return this.db.run((m) =>
      m.findOne(AppSettingsEntity, {
        where: { organizationId: inCurrentOrganization() },
        lock: { mode: 'pessimistic_write' },
      }),
    );
  }

  /**
   * Serialises the creation of the organisation's row across instances (two first saves, or two
   * instances seeding `default` at once); released when the transaction ends. Per organisation:
   * two organisations' first saves never wait on each other.
   */
  async lockForCreation(): Promise<void> {
    const { id } = requireOrganizationScope('Creating the settings of an organisation');
    await this.db.run((m) =>
      m.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`app_settings:${id}`]),
    );
  }

  async save(row: AppSettingsEntity): Promise<AppSettingsEntity> {
    return this.db.run((m) => m.getRepository(AppSettingsEntity).save(row));
  }

  /** Builds the entity, runs no statement: a promise only because managers come through `run`. */
  create(row: NewAppSettings): Promise<AppSettingsEntity> {
    return this.db.run(async (m) => m.getRepository(AppSettingsEntity).create(row));
  }

  async addAudit(entry: NewConfigAudit): Promise<void> {
    await this.db.run((m) => m.insert(ConfigAuditEntity, entry));
  }

  /** The organisation's audit entries newest first, `limit` of them, older than `beforeId`. */
  listAudit(limit: number, beforeId?: string): Promise<ConfigAuditEntity[]> {
    return this.db.run((m) => {
      const qb = m
        .getRepository(ConfigAuditEntity)
        .createQueryBuilder('a')
        .where(`a.organization_id = ${CURRENT_ORGANIZATION_ID}`)
        .orderBy('a.id', 'DESC')
        .take(limit);
      if (beforeId) qb.andWhere('a.id < :before', { before: beforeId });
      return qb.getMany();
    });
  }
}
