import { Injectable } from '@nestjs/common';

import { pageNewestFirst, type Page } from '../common/cursor.js';
import { readServiceRole, type ServiceRole } from '../database/service-role.js';
import { TransactionHost } from '../database/transaction-host.js';
import type { Organization, OrganizationStatus } from './organization.js';

/** What an operator may change. */
export interface OrganizationChange {
  name?: string;
  status?: OrganizationStatus;
  consoleAdmins?: string[];
}
import { OrganizationEntity } from './organization.entity.js';

/**
 * The `organizations` table, owned by the organisations module. It belongs to no organisation
 * (every request and job resolves its organisation here before it has one), so its statements
 * run unscoped: never inside an organisation's transaction.
 */
@Injectable()
export class OrganizationsRepository {
  constructor(private readonly db: TransactionHost) {}

  /** Throws, as a read here would, when called inside an organisation's transaction. */
  refuseInsideTransaction(): void {
    this.db.refuseUnscopedInTransaction();
  }

  async findById(id: string): Promise<Organization | null> {
    return this.db.unscoped((m) => m.getRepository(OrganizationEntity).findOneBy({ id }));
  }

  async findBySlug(slug: string): Promise<Organization | null> {
    return this.db.unscoped((m) => m.getRepository(OrganizationEntity).findOneBy({ slug }));
  }

  /** Every organisation, oldest first (the few a deployment has fit in memory). */
  async findAll(): Promise<Organization[]> {
    return this.db.unscoped((m) =>
      m.getRepository(OrganizationEntity).find({ order: { createdAt: 'ASC', id: 'ASC' } }),
    );
  }

  /** One page, newest first, optionally of one status only. */
  async page<T>(
    query: { cursor?: string; limit: number; status?: OrganizationStatus },
    map: (o: Organization) => T,
  ): Promise<Page<T>> {
    return this.db.unscoped((m) => {
      const qb = m.getRepository(OrganizationEntity).createQueryBuilder('o');
      if (query.status) qb.where('o.status = :status', { status: query.status });
      return pageNewestFirst(qb, query, map);
    });
  }

  /** Inserts a new active organisation; null when the slug is taken (nothing is changed then). */
  async create(slug: string, name: string, consoleAdmins: string[]): Promise<Organization | null> {
    const result = await this.db.unscoped((m) =>
      m
        .createQueryBuilder()
        .insert()
        .into(OrganizationEntity)
        .values({ slug, name, consoleAdmins })
        .orIgnore()
        .returning('id')
        .execute(),
    );
    const row = (result.raw as { id: string }[])[0];
    return row ? this.findById(row.id) : null;
  }

  /**
   * Changes an organisation under its row lock, so that two operators' changes are applied one
   * after the other and each learns what it replaced; `version` goes up by one. With
   * `expectedVersion`, a row at another version is left alone and reported as `stale`. Null when
   * there is no such organisation.
   */
  async update(
    id: string,
    change: OrganizationChange,
    at: Date,
    expectedVersion?: number,
  ): Promise<{ previous: Organization; next: Organization } | { stale: Organization } | null> {
    // Its own transaction, outside any organisation's: the table belongs to none.
    return this.db.unscoped((pool) =>
      pool.transaction(async (m) => {
        const repo = m.getRepository(OrganizationEntity);
        const previous = await repo.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
        if (!previous) return null;
        if (expectedVersion !== undefined && previous.version !== expectedVersion) {
          return { stale: { ...previous } };
        }
        const next = await repo.save({
          ...previous,
          ...change,
          version: previous.version + 1,
          updatedAt: at,
        });
        return { previous: { ...previous }, next: { ...next } };
      }),
    );
  }

  /** The role the service's pool connects as: whether row-level security binds it. */
  async serviceRole(): Promise<ServiceRole> {
    return this.db.unscoped((m) => readServiceRole(m));
  }
}
