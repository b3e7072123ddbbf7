import { Injectable } from '@nestjs/common';

import { TransactionHost } from '../database/transaction-host.js';
import type { Organization } from './organization.js';
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
}
