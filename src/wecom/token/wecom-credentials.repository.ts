import { Injectable } from '@nestjs/common';

import { requireOrganizationScope } from '../../common/organization-scope.js';
import { inCurrentOrganization } from '../../database/organization-column.js';
import { TransactionHost } from '../../database/transaction-host.js';
import { WeComCredentialEntity, type WeComCredentialKind } from './wecom-credential.entity.js';

/** Which credential of the organisation in scope: one row per (kind, corp, agent) in it. */
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

/** The key's row in the transaction's organisation: named, whoever the connection is. */
const scoped = (key: CredentialKey) => ({ ...key, organizationId: inCurrentOrganization() });

/**
 * The `wecom_credentials` table (access tokens and JS-SDK tickets shared by every instance, per
 * organisation) and the advisory locks that make a refresh one call across all of them. Every
 * statement is for the organisation in scope; every method runs in the caller's transaction when
 * one is open (TransactionHost).
 */
@Injectable()
export class WeComCredentialsRepository {
  constructor(private readonly db: TransactionHost) {}

  find(key: CredentialKey): Promise<WeComCredentialEntity | null> {
    const where = scoped(key);
    return this.db.run((m) => m.getRepository(WeComCredentialEntity).findOneBy(where));
  }

  /**
   * Takes the key's refresh lock until the open transaction ends: a refresh and a drop of the
   * same key never overlap, on any instance. The organisation is part of the lock: two
   * organisations never wait on each other. Only inside TransactionHost.transaction().
   */
  async lock({ kind, corpId, agentId }: CredentialKey): Promise<void> {
    const organizationId = requireOrganizationScope('A WeCom credential lock').id;
    await this.db.run((m) =>
      m.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `wecom:${organizationId}:${kind}:${corpId}:${agentId}`,
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
        await repo.update(scoped(key), { fetchedAt: at, unansweredAt });
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
    const where = { ...scoped(key), valueFingerprint: fingerprint };
    await this.db.run((m) =>
      m
        .getRepository(WeComCredentialEntity)
        .update(where, { expiresAt: new Date(0), renewAt: new Date(0) }),
    );
  }

  async delete(key: CredentialKey): Promise<void> {
    const where = scoped(key);
    await this.db.run((m) => m.getRepository(WeComCredentialEntity).delete(where));
  }
}
