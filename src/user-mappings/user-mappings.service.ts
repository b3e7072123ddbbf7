import {
  BadGatewayException,
  Logger,
  BadRequestException,
  ConflictException,
  Injectable,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { Clock } from '../common/clock.js';
import { pageNewestFirst, type Page } from '../common/cursor.js';
import { TransactionHost } from '../database/transaction-host.js';
import { WeComApiError } from '../wecom/client/wecom-api.error.js';
import {
  OUTSIDE_VISIBLE_RANGE,
  OUTSIDE_VISIBLE_RANGE_ADVICE,
} from '../wecom/client/wecom-retry-policy.js';
import { WeComClient } from '../wecom/client/wecom.client.js';
import { RuntimeSettings } from '../settings/runtime-settings.js';
import { WeComSettings } from '../wecom/wecom-settings.js';
import type { MemberMapping } from './member.js';
import {
  WECOM_ID,
  WECOM_ID_RULE,
  type CreateUserMappingDto,
  type ListUserMappingsQueryDto,
  type UserMappingDto,
} from './dto/user-mapping.dto.js';
import {
  UserMappingEntity,
  type MappingSource,
  type MappingStatus,
} from './user-mapping.entity.js';

/** A contact event could not be applied; recorded on the event row by the callback service. */
export class MappingChangeError extends Error {
  override name = 'MappingChangeError';
}

@Injectable()
export class UserMappingsService {
  private readonly logger = new Logger(UserMappingsService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly db: TransactionHost,
    private readonly client: WeComClient,
    private readonly settings: WeComSettings,
    private readonly runtime: RuntimeSettings,
    private readonly clock: Clock,
  ) {}

  async create(dto: CreateUserMappingDto, createdBy: string): Promise<UserMappingDto> {
    const given = [dto.wecomUserId, dto.mobile, dto.email].filter((v) => v !== undefined);
    if (given.length !== 1) {
      throw new BadRequestException('give exactly one of wecomUserId, mobile or email');
    }
    const { wecomUserId, source } = await this.resolveMember(dto);
    return this.save(dto.platformUserId, wecomUserId, source, createdBy, dto.language);
  }

  /** Also used by the WeCom sign-in (source `oauth`). */
  async save(
    platformUserId: string,
    wecomUserId: string,
    source: MappingSource,
    createdBy: string | null,
    /** The admin-configured default language when not given. */
    language: 'zh' | 'en' = this.runtime.current().options.defaultLanguage,
  ): Promise<UserMappingDto> {
    // Whatever the id came from (an admin, a WeCom lookup, a sign-in): a mapping to `@all` would
    // turn every message to this person into a company-wide broadcast.
    if (!WECOM_ID.test(wecomUserId)) {
      throw new BadRequestException(`wecomUserId must be ${WECOM_ID_RULE}`);
    }
    const { corpId } = this.settings.credentials();
    const repo = this.dataSource.getRepository(UserMappingEntity);
    const holder = await repo
      .createQueryBuilder('m')
      .where('m.corp_id = :corpId', { corpId })
      .andWhere(
        '(m.platform_user_id = :platformUserId OR lower(m.wecom_user_id) = lower(:wecomUserId))',
        {
          platformUserId,
          wecomUserId,
        },
      )
      .getOne();
    if (holder) throw conflict(holder, platformUserId);
    try {
      const row = await repo.save(
        repo.create({ corpId, platformUserId, wecomUserId, source, language, createdBy }),
      );
      return toDto(row);
    } catch (error) {
      // Lost a race with a concurrent create: the unique indexes decide, report the holder.
      if ((error as { code?: string }).code === '23505') {
        const winner = await repo
          .createQueryBuilder('m')
          .where('m.corp_id = :corpId', { corpId })
          .andWhere(
            '(m.platform_user_id = :platformUserId OR lower(m.wecom_user_id) = lower(:wecomUserId))',
            {
              platformUserId,
              wecomUserId,
            },
          )
          .getOne();
        if (winner) throw conflict(winner, platformUserId);
      }
      throw error;
    }
  }

  async list(query: ListUserMappingsQueryDto): Promise<Page<UserMappingDto>> {
    const { corpId } = this.settings.credentials();
    const qb = this.dataSource
      .getRepository(UserMappingEntity)
      .createQueryBuilder('m')
      .where('m.corp_id = :corpId', { corpId });
    if (query.platformUserId) qb.andWhere('m.platform_user_id = :p', { p: query.platformUserId });
    if (query.wecomUserId)
      qb.andWhere('lower(m.wecom_user_id) = lower(:w)', { w: query.wecomUserId });
    if (query.source) qb.andWhere('m.source = :s', { s: query.source });
    if (query.status) qb.andWhere('m.status = :st', { st: query.status });
    return pageNewestFirst(qb, query, toDto);
  }

  /** The mapping of a WeCom member (userids compare case-insensitively, as WeCom's do), or null. */
  async findByWecomUserId(wecomUserId: string): Promise<UserMappingDto | null> {
    const [mapping] = (await this.list({ wecomUserId, limit: 1 })).items;
    return mapping ?? null;
  }

  /**
   * The mappings of these platform users in `corpId`, by platform user id (unmapped ones are
   * absent). Reads inside the caller's transaction when one is open.
   */
  async membersOf(
    corpId: string,
    platformUserIds: readonly string[],
  ): Promise<Map<string, MemberMapping>> {
    if (platformUserIds.length === 0) return new Map();
    const rows: MemberMapping[] = await this.db.manager.query(
      `SELECT platform_user_id AS "platformUserId", wecom_user_id AS "wecomUserId", status, language
         FROM user_mappings WHERE corp_id = $1 AND platform_user_id = ANY($2::text[])`,
      [corpId, [...new Set(platformUserIds)]],
    );
    return new Map(rows.map((r) => [r.platformUserId, r]));
  }

  /**
   * Of these members of `corpId`, the ones whose mapping is no longer active (they left WeCom or
   * were disabled), lower-cased: the dispatcher does not send to them. Members without a mapping
   * are not in the answer (messages may name WeCom userids directly).
   */
  async inactiveAmong(corpId: string, wecomUserIds: readonly string[]): Promise<Set<string>> {
    if (wecomUserIds.length === 0) return new Set();
    const rows: { id: string }[] = await this.db.manager.query(
      `SELECT DISTINCT lower(wecom_user_id) AS id FROM user_mappings
        WHERE corp_id = $1 AND status <> 'active'
          AND lower(wecom_user_id) = ANY(SELECT lower(u) FROM unnest($2::text[]) AS u)`,
      [corpId, wecomUserIds],
    );
    return new Set(rows.map((r) => r.id));
  }

  /**
   * A WeCom member's status changed (a contact event). `left` is final: a member removed from the
   * corp does not come back under the same mapping (WeCom may reuse the userid for someone else),
   * so only `disabled` turns `active` again. Returns the changed mapping, or null when there was
   * nothing to change (no mapping, or already so: a repeated event changes nothing).
   */
  async setMemberStatus(
    wecomUserId: string,
    status: MappingStatus,
  ): Promise<UserMappingDto | null> {
    const { corpId } = this.settings.credentials();
    const allowedFrom: Record<MappingStatus, MappingStatus[]> = {
      active: ['disabled'],
      disabled: ['active'],
      left: ['active', 'disabled'],
    };
    const result = await this.dataSource
      .createQueryBuilder()
      .update(UserMappingEntity)
      .set({ status, statusChangedAt: this.clock.now() })
      .where('corp_id = :corpId AND lower(wecom_user_id) = lower(:wecomUserId)', {
        corpId,
        wecomUserId,
      })
      .andWhere('status IN (:...from)', { from: allowedFrom[status] })
      .returning('*')
      .execute();
    const row = (result.raw as Record<string, unknown>[])[0];
    if (!row) return null;
    const mapping = await this.find(String(row.id));
    this.logger.log(
      `Mapping of WeCom member ${mapping.wecomUserId} (platform user ${mapping.platformUserId}) is now ${status}`,
    );
    return toDto(mapping);
  }

  /**
   * An admin changed a member's userid in WeCom: the mapping follows, and so do the messages
   * still waiting for them (a send to the old userid would find nobody). Returns the renamed
   * mapping, or null when no mapping has the old userid (already renamed: a repeated event).
   */
  async renameMember(
    oldWecomUserId: string,
    newWecomUserId: string,
  ): Promise<UserMappingDto | null> {
    const { corpId } = this.settings.credentials();
    const taken = (holder: UserMappingDto | null, cause?: unknown) =>
      new MappingChangeError(
        `Cannot follow WeCom userid ${oldWecomUserId} -> ${newWecomUserId}: ${newWecomUserId} is already mapped to platform user ${holder?.platformUserId ?? '?'}`,
        { cause },
      );
    const holder = await this.findByWecomUserId(newWecomUserId);
    if (holder) throw taken(holder);
    try {
      const id = await this.dataSource.transaction(async (tx) => {
        const renamed = returnedRows(
          await tx.query(
            `UPDATE user_mappings SET wecom_user_id = $3
              WHERE corp_id = $1 AND lower(wecom_user_id) = lower($2)
              RETURNING id`,
            [corpId, oldWecomUserId, newWecomUserId],
          ),
        ) as { id: string }[];
        const row = renamed[0];
        if (!row) return null;
        // Recipients already reserved (`sending`) go out as reserved: a resend must be identical.
        await tx.query(
          `UPDATE message_recipients r SET wecom_user_id = $3
             FROM messages m
            WHERE m.id = r.message_id AND m.corp_id = $1 AND m.status IN ('queued', 'sending')
              AND lower(r.wecom_user_id) = lower($2) AND r.status IN ('pending', 'rate_limited')`,
          [corpId, oldWecomUserId, newWecomUserId],
        );
        return String(row.id);
      });
      if (id === null) return null;
      const mapping = await this.find(id);
      this.logger.log(
        `Mapping of platform user ${mapping.platformUserId} follows WeCom userid ${oldWecomUserId} -> ${newWecomUserId}`,
      );
      return toDto(mapping);
    } catch (error) {
      // A mapping for the new userid created meanwhile: the unique index decides.
      if ((error as { code?: string }).code === '23505') {
        throw taken(await this.findByWecomUserId(newWecomUserId), error);
      }
      throw error;
    }
  }

  async get(id: string): Promise<UserMappingDto> {
    return toDto(await this.find(id));
  }

  async remove(id: string): Promise<void> {
    const row = await this.find(id);
    await this.dataSource.getRepository(UserMappingEntity).delete({ id: row.id });
  }

  private async find(id: string): Promise<UserMappingEntity> {
    const { corpId } = this.settings.credentials();
    const row = await this.dataSource.getRepository(UserMappingEntity).findOneBy({ id, corpId });
    if (!row) throw new NotFoundException('User mapping not found');
    return row;
  }

  /**
   * Finds the member in WeCom. A member found by mobile or email is read with user/get too:
   * that is where WeCom tells a member outside the app's visible range (60011), who would
   * receive nothing the app sends.
   */
  private async resolveMember(
    dto: CreateUserMappingDto,
  ): Promise<{ wecomUserId: string; source: MappingSource }> {
    const what = dto.mobile ? 'mobile' : dto.email ? 'email' : 'wecomUserId';
    let found: { wecomUserId: string; source: MappingSource } | undefined;
    try {
      if (dto.mobile)
        found = {
          wecomUserId: (await this.client.getUserIdByMobile(dto.mobile)).userid,
          source: 'mobile',
        };
      else if (dto.email)
        found = {
          wecomUserId: (await this.client.getUserIdByEmail(dto.email)).userid,
          source: 'email',
        };
      const member = await this.client.getUser(found?.wecomUserId ?? dto.wecomUserId!);
      return found ?? { wecomUserId: member.userid, source: 'admin' };
    } catch (error) {
      if (error instanceof WeComApiError && error.errcode === OUTSIDE_VISIBLE_RANGE) {
        const who = found?.wecomUserId ?? dto.wecomUserId ?? what;
        throw new UnprocessableEntityException({
          message: `WeCom member ${who} is ${OUTSIDE_VISIBLE_RANGE_ADVICE} (errcode ${error.errcode})`,
          errcode: error.errcode,
        });
      }
      if (error instanceof WeComApiError && error.errcode !== null && !error.retryable) {
        throw new UnprocessableEntityException({
          message: `WeCom does not know this ${what} (errcode ${error.errcode})`,
          errcode: error.errcode,
        });
      }
      if (error instanceof WeComApiError) {
        throw new BadGatewayException(
          'WeCom could not be reached to resolve the member; try again',
        );
      }
      throw error;
    }
  }
}

function conflict(holder: UserMappingEntity, platformUserId: string): ConflictException {
  return holder.platformUserId === platformUserId
    ? new ConflictException({
        message: `platform user ${holder.platformUserId} is already mapped to WeCom user ${holder.wecomUserId}`,
        holder: toDto(holder),
      })
    : new ConflictException({
        message: `WeCom user ${holder.wecomUserId} is already mapped to platform user ${holder.platformUserId}`,
        holder: toDto(holder),
      });
}

export function toDto(m: UserMappingEntity): UserMappingDto {
  return {
    id: m.id,
    platformUserId: m.platformUserId,
    wecomUserId: m.wecomUserId,
    source: m.source,
    language: m.language,
    status: m.status,
    statusChangedAt: m.statusChangedAt ? m.statusChangedAt.toISOString() : null,
    createdBy: m.createdBy,
    createdAt: m.createdAt.toISOString(),
  };
}

/** UPDATE … RETURNING through query() answers [rows, count] on PostgreSQL, rows on PGlite. */
function returnedRows(result: unknown): unknown[] {
  return (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as unknown[];
}
