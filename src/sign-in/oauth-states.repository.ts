import { Injectable } from '@nestjs/common';

import { CURRENT_ORGANIZATION_ID, inCurrentOrganization } from '../database/organization-column.js';
import { TransactionHost } from '../database/transaction-host.js';
import { OAuthStateEntity } from './oauth-state.entity.js';

/** A sign-in state as issued (its organisation is the transaction's). */
export type NewOAuthState = Pick<
  OAuthStateEntity,
  'nonce' | 'redirect' | 'createdAt' | 'expiresAt'
>;

/**
 * The `oauth_states` table: sign-ins in progress, owned by the sign-in module. Every statement is
 * for the transaction's organisation and names it (row-level security filters them too): a state
 * is found, used and cleared only in the organisation that issued it.
 */
@Injectable()
export class OAuthStatesRepository {
  constructor(private readonly db: TransactionHost) {}

  /** Abandoned sign-ins leave rows behind; each new one clears those expired before `now`. */
  async deleteExpired(now: Date): Promise<void> {
    await this.db.run((m) =>
      m
        .getRepository(OAuthStateEntity)
        .createQueryBuilder()
        .delete()
        .where(`expires_at < :now AND organization_id = ${CURRENT_ORGANIZATION_ID}`, { now })
        .execute(),
    );
  }

  async insert(state: NewOAuthState): Promise<void> {
    await this.db.run((m) => m.getRepository(OAuthStateEntity).insert(state));
  }

  async findByNonce(nonce: string): Promise<OAuthStateEntity | null> {
    return this.db.run((m) =>
      m
        .getRepository(OAuthStateEntity)
        .findOneBy({ nonce, organizationId: inCurrentOrganization() }),
    );
  }

  /**
   * Deletes the state; true when this call deleted it. This is the single-use check: of two
   * concurrent callbacks with the same state, only one gets the row.
   */
  async delete(nonce: string): Promise<boolean> {
    const deleted = await this.db.run((m) =>
      m
        .createQueryBuilder()
        .delete()
        .from(OAuthStateEntity)
        .where(`nonce = :nonce AND organization_id = ${CURRENT_ORGANIZATION_ID}`, { nonce })
        .execute(),
    );
    return deleted.affected === 1;
  }
}
