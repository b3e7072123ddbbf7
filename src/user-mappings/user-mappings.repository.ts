import { Injectable } from '@nestjs/common';

import { pageNewestFirst, type Page } from '../common/cursor.js';
import { TransactionHost } from '../database/transaction-host.js';
import type { MemberMapping } from './member.js';
import {
  UserMappingEntity,
  type Language,
  type MappingSource,
  type MappingStatus,
} from './user-mapping.entity.js';

export interface MappingFilter {
  /** The start of the platform user id or of the WeCom userid, case aside. */
  q?: string;
  platformUserId?: string;
  wecomUserId?: string;
  source?: MappingSource;
  status?: MappingStatus;
}

/**
 * The People search on mappings `m`: the platform user id or the WeCom userid starts with `:q`
 * (lower-cased). On the stored lower-cased columns with starts_with(), not lower(...) LIKE: under
 * row-level security only leakproof conditions reach an index, and lower() and LIKE are not
 * (migration UserMappingSearch).
 */
export const MAPPING_SEARCH =
  '(starts_with(m.platform_user_id_lower, :q) OR starts_with(m.wecom_user_id_lower, :q))';

export interface NewMapping {
  corpId: string;
  platformUserId: string;
  wecomUserId: string;
  source: MappingSource;
  language: Language;
  createdBy: string | null;
}

/**
 * Every read and write of `user_mappings`. WeCom userids compare case-insensitively (as WeCom's
 * do; the unique index is on lower(wecom_user_id)). Lookups compare the stored lower-cased column
 * (`wecom_user_id_lower`), never `lower(wecom_user_id)`: under row-level security only leakproof
 * conditions reach an index, and lower() on a column is not one (migration UserMappingSearch).
 * Statements run in the caller's transaction when one is open (TransactionHost).
 */
@Injectable()
export class UserMappingsRepository {
  constructor(private readonly db: TransactionHost) {}

  /** The mapping that holds this platform user or this WeCom member in `corpId`, if any. */
  findHolder(
    corpId: string,
    platformUserId: string,
    wecomUserId: string,
  ): Promise<UserMappingEntity | null> {
    return this.db.run((m) =>
      m
        .getRepository(UserMappingEntity)
        .createQueryBuilder('m')
        .where('m.corp_id = :corpId', { corpId })
        .andWhere(
          '(m.platform_user_id = :platformUserId OR m.wecom_user_id_lower = lower(:wecomUserId))',
          { platformUserId, wecomUserId },
        )
        .getOne(),
    );
  }

  /** Throws the unique violation (23505) when a concurrent insert took either side first. */
  insert(mapping: NewMapping): Promise<UserMappingEntity> {
    return this.db.run((m) => {
      const rows = m.getRepository(UserMappingEntity);
      return rows.save(rows.create(mapping));
    });
  }

  findById(corpId: string, id: string): Promise<UserMappingEntity | null> {
    return this.db.run((m) => m.getRepository(UserMappingEntity).findOneBy({ id, corpId }));
  }

  async delete(id: string): Promise<void> {
    await this.db.run((m) => m.getRepository(UserMappingEntity).delete({ id }));
  }

  /** One page of `corpId`'s mappings, newest first. */
  page(
    corpId: string,
    filter: MappingFilter,
    page: { cursor?: string; limit: number },
  ): Promise<Page<UserMappingEntity>> {
    return this.db.run((manager) => {
      const qb = manager
        .getRepository(UserMappingEntity)
        .createQueryBuilder('m')
        .where('m.corp_id = :corpId', { corpId });
      if (filter.platformUserId)
        qb.andWhere('m.platform_user_id = :p', { p: filter.platformUserId });
      if (filter.q) qb.andWhere(MAPPING_SEARCH, { q: filter.q.toLowerCase() });
      // The lower-cased column, not lower(...), for the reason MAPPING_SEARCH gives.
      if (filter.wecomUserId)
        qb.andWhere('m.wecom_user_id_lower = :w', { w: filter.wecomUserId.toLowerCase() });
      if (filter.source) qb.andWhere('m.source = :s', { s: filter.source });
      if (filter.status) qb.andWhere('m.status = :st', { st: filter.status });
      return pageNewestFirst(qb, page, (m) => m);
    });
  }

  /** The mappings of these platform users in `corpId` (unmapped ones have no row). */
  membersOf(corpId: string, platformUserIds: readonly string[]): Promise<MemberMapping[]> {
    return this.db.run((m) =>
      m.query(
        `SELECT platform_user_id AS "platformUserId", wecom_user_id AS "wecomUserId", status, language
         FROM user_mappings WHERE corp_id = $1 AND platform_user_id = ANY($2::text[])`,
        [corpId, [...new Set(platformUserIds)]],
      ),
    );
  }

  /** Of these WeCom userids, the lower-cased ones whose mapping in `corpId` is not active. */
  async inactiveAmong(corpId: string, wecomUserIds: readonly string[]): Promise<string[]> {
    const rows: { id: string }[] = await this.db.run((m) =>
      m.query(
        `SELECT DISTINCT wecom_user_id_lower AS id FROM user_mappings
        WHERE corp_id = $1 AND status <> 'active'
          AND wecom_user_id_lower = ANY(SELECT lower(u) FROM unnest($2::text[]) AS u)`,
        [corpId, wecomUserIds],
      ),
    );
    return rows.map((r) => r.id);
  }

  /**
   * Sets the status of a member's mapping if it is now one of `from` (so a repeated contact event
   * changes nothing). Returns the changed mapping's id, or null when nothing changed.
   */
  async setStatus(
    corpId: string,
    wecomUserId: string,
    status: MappingStatus,
    from: readonly MappingStatus[],
    at: Date,
  ): Promise<string | null> {
    const result = await this.db.run((m) =>
      m
        .createQueryBuilder()
        .update(UserMappingEntity)
        .set({ status, statusChangedAt: at })
        .where('corp_id = :corpId AND wecom_user_id_lower = lower(:wecomUserId)', {
          corpId,
          wecomUserId,
        })
        .andWhere('status IN (:...from)', { from })
        .returning('*')
        .execute(),
    );
    const row = (result.raw as Record<string, unknown>[])[0];
    return row ? String(row.id) : null;
  }

  /**
   * Moves a member's mapping to their new WeCom userid. Returns its id, or null when no mapping
   * has the old userid. Throws the unique violation (23505) when the new one is mapped already.
   */
  async rename(
    corpId: string,
    oldWecomUserId: string,
    newWecomUserId: string,
  ): Promise<string | null> {
    const renamed = returnedRows(
      await this.db.run((m) =>
        m.query(
          `UPDATE user_mappings SET wecom_user_id = $3
          WHERE corp_id = $1 AND wecom_user_id_lower = lower($2)
          RETURNING id`,
          [corpId, oldWecomUserId, newWecomUserId],
        ),
      ),
    ) as { id: string }[];
    const row = renamed[0];
    return row ? String(row.id) : null;
  }
}

/** UPDATE … RETURNING through query() answers [rows, count] on PostgreSQL, rows on PGlite. */
function returnedRows(result: unknown): unknown[] {
  return (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as unknown[];
}
