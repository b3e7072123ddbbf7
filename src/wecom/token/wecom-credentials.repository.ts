import { Injectable } from '@nestjs/common';

import { TransactionHost } from '../../database/transaction-host.js';
import { WeComCredentialEntity, type WeComCredentialKind } from './wecom-credential.entity.js';

/** Which credential: one row per (kind, corp, agent) in each organisation. */
export interface CredentialKey {
  kind: WeComCredentialKind;
  corpId: string;
  agentId: number;
}

/** A value WeCom issued, sealed, and the times that bound its life. */
export interface IssuedCredential {
  sealedValue: string;
  fingerprint: string;
  fetchedAt: Date;
  expiresAt: Date;
  renewAt: Date;
}

/**
 * The `wecom_credentials` table (access tokens and JS-SDK tickets shared by every instance) and
 * the advisory locks that make a refresh one call across all of them. Every method runs in the
 * caller's transaction when one is open (TransactionHost).
 */
@Injectable()
export class WeComCredentialsRepository {
  constructor(private readonly db: TransactionHost) {}

  find(key: CredentialKey): Promise<WeComCredentialEntity | null> {
    return this.db.run((m) => m.getRepository(WeComCredentialEntity).findOneBy({ ...key }));
  }

  /**
   * Takes the key's refresh lock until the open transaction ends: a refresh and a drop of the
   * same key never overlap, on any instance. Only inside TransactionHost.transaction().
   */
  async lock(key: CredentialKey): Promise<void> {
    await this.db.run((m) =>
      m.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `wecom:${key.kind}:${key.corpId}:${key.agentId}`,
      ]),
    );
  }

  /**
   * Stores what WeCom just issued, replacing the key's row in the transaction's organisation (the
   * column default fills organization_id); the call was answered.
   */
  async store(key: CredentialKey, issued: IssuedCredential): Promise<void> {
    await this.db.run((m) => {
      const repo = m.getRepository(WeComCredentialEntity);
      return repo.upsert(
        repo.create({
          ...key,
          value: issued.sealedValue,
          valueFingerprint: issued.fingerprint,
          fetchedAt: issued.fetchedAt,
          expiresAt: issued.expiresAt,
          renewAt: issued.renewAt,
          unansweredAt: null,
        }),
        ['organizationId', 'kind', 'corpId', 'agentId'],
      );
    });
  }

  /** A call that got no value: its time goes on the row, for the spacing between calls. */
  async recordFailedCall(
    key: CredentialKey,
    at: Date,
    unansweredAt: Date | null,
    hasRow: boolean,
  ): Promise<void> {
    await this.db.run(async (m) => {
      const repo = m.getRepository(WeComCredentialEntity);
      if (hasRow) {
        await repo.update({ ...key }, { fetchedAt: at, unansweredAt });
        return;
      }
      // No value yet: a row without one keeps the time of the call for the other instances.
      await repo.insert({
        ...key,
        value: '',
        valueFingerprint: '',
        fetchedAt: at,
        expiresAt: new Date(0),
        renewAt: new Date(0),
        unansweredAt,
      });
    });
  }

  /**
   * Marks the key's value ended, only if it is still the one with `fingerprint`: a hundred
   * callers that saw the same bad token cause one refetch, not a hundred.
   */
  async expire(key: CredentialKey, fingerprint: string): Promise<void> {
    await this.db.run((m) =>
      m
        .createQueryBuilder()
        .update(WeComCredentialEntity)
        .set({ expiresAt: new Date(0), renewAt: new Date(0) })
        .where(
          'kind = :kind AND corp_id = :corpId AND agent_id = :agentId AND value_fingerprint = :fp',
          { ...key, fp: fingerprint },
        )
        .execute(),
    );
  }

  async delete(key: CredentialKey): Promise<void> {
    await this.db.run((m) => m.getRepository(WeComCredentialEntity).delete({ ...key }));
  }
}
