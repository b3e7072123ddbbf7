import {
  BadGatewayException,
  BadRequestException,
  ConflictException,
  Injectable,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

import { pageNewestFirst, type Page } from '../common/cursor.js';
import { WeComApiError } from '../wecom/client/wecom-api.error.js';
import { WeComClient } from '../wecom/client/wecom.client.js';
import { RuntimeSettings } from '../settings/runtime-settings.js';
import { WeComSettings } from '../wecom/wecom-settings.js';
import {
  WECOM_ID,
  WECOM_ID_RULE,
  type CreateUserMappingDto,
  type ListUserMappingsQueryDto,
  type UserMappingDto,
} from './dto/user-mapping.dto.js';
import { UserMappingEntity, type MappingSource } from './user-mapping.entity.js';

/** What user/get answers for a member outside the app's visible range (可见范围). */
const OUTSIDE_VISIBLE_RANGE = 60011;

@Injectable()
export class UserMappingsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly client: WeComClient,
    private readonly settings: WeComSettings,
    private readonly runtime: RuntimeSettings,
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
    return pageNewestFirst(qb, query, toDto);
  }

  /** The mapping of a WeCom member (userids compare case-insensitively, as WeCom's do), or null. */
  async findByWecomUserId(wecomUserId: string): Promise<UserMappingDto | null> {
    const [mapping] = (await this.list({ wecomUserId, limit: 1 })).items;
    return mapping ?? null;
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
          message:
            `WeCom member ${who} is outside the app's visible range (可见范围): add them or ` +
            `their department to the app's visible range in the WeCom admin console (errcode ${error.errcode})`,
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
    createdBy: m.createdBy,
    createdAt: m.createdAt.toISOString(),
  };
}
