import { Injectable } from '@nestjs/common';

import { TransactionHost } from '../database/transaction-host.js';
import type { Organization } from './organization.js';
import { OrganizationEntity } from './organization.entity.js';

/** The `organizations` table, owned by the organisations module. */
@Injectable()
export class OrganizationsRepository {
  constructor(private readonly db: TransactionHost) {}

  async findById(id: string): Promise<Organization | null> {
    return this.db.run((m) => m.getRepository(OrganizationEntity).findOneBy({ id }));
  }

  async findBySlug(slug: string): Promise<Organization | null> {
    return this.db.run((m) => m.getRepository(OrganizationEntity).findOneBy({ slug }));
  }

  /** Every organisation, oldest first (the few a deployment has fit in memory). */
  async findAll(): Promise<Organization[]> {
    return this.db.run((m) =>
      m.getRepository(OrganizationEntity).find({ order: { createdAt: 'ASC', id: 'ASC' } }),
    );
  }
}
