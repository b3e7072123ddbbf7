import {
  BadGatewayException,
  Logger,
  ConflictException,
  Injectable,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';

import { Clock } from '../common/clock.js';
import type { Page } from '../common/cursor.js';
import { ValidationProblemException } from '../common/validation-problem.js';
import { TransactionHost } from '../database/transaction-host.js';
import { WeComApiError } from '../wecom/client/wecom-api.error.js';
import {
  OUTSIDE_VISIBLE_RANGE,
  OUTSIDE_VISIBLE_RANGE_ADVICE,
} from '../wecom/client/wecom-retry-policy.js';
import { WeComClient } from '../wecom/client/wecom.client.js';
import { RuntimeSettings } from '../settings/runtime-settings.js';
import { WeComSettings } from '../wecom/wecom-settings.js';
import { MemberRenamedEvent, type MemberLookup, type MemberMapping } from './member.js';
import {
  WECOM_ID,
  WECOM_ID_RULE,
  type CreateUserMappingDto,
  type ListUserMappingsQueryDto,
  type UserMappingDto,
} from './dto/user-mapping.dto.js';
import type { MappingSource, MappingStatus, UserMappingEntity } from './user-mapping.entity.js';
import { UserMappingsRepository } from './user-mappings.repository.js';

/** A contact event could not be applied; recorded on the event row by the callback service. */
export class MappingChangeError extends Error {
  override name = 'MappingChangeError';
}

@Injectable()
export class UserMappingsService {
  private readonly logger = new Logger(UserMappingsService.name);

  constructor(
    private readonly repository: UserMappingsRepository,
    private readonly db: TransactionHost,
    private readonly events: EventEmitter2,
    private readonly client: WeComClient,
    private readonly settings: WeComSettings,
    private readonly runtime: RuntimeSettings,
    private readonly clock: Clock,
  ) {}

  async create(dto: CreateUserMappingDto, createdBy: string): Promise<UserMappingDto> {
    const ways = ['wecomUserId', 'mobile', 'email'] as const;
    const given = ways.filter((field) => dto[field] !== undefined);
    if (given.length !== 1) {
      // None given: each of them could be; several: each given one is one too many.
      const message = 'give exactly one of wecomUserId, mobile or email';
      const fields = given.length === 0 ? ways : given;
      throw new ValidationProblemException(fields.map((field) => ({ field, message })));
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
    language?: 'zh' | 'en',
  ): Promise<UserMappingDto> {
    language ??= (await this.runtime.current()).options.defaultLanguage;
    // Whatever the id came from (an admin, a WeCom lookup, a sign-in): a mapping to `@all` would
    // turn every message to this person into a company-wide broadcast.
    if (!WECOM_ID.test(wecomUserId)) {
      throw new ValidationProblemException([
        { field: 'wecomUserId', message: `wecomUserId must be ${WECOM_ID_RULE}` },
      ]);
    }
    const { corpId } = await this.settings.credentials();
    const holder = await this.repository.findHolder(corpId, platformUserId, wecomUserId);
    if (holder) throw conflict(holder, platformUserId);
    try {
      const row = await this.repository.insert({
        corpId,
        platformUserId,
        wecomUserId,
        source,
        language,
        createdBy,
      });
      return toDto(row);
    } catch (error) {
      // Lost a race with a concurrent create: the unique indexes decide, report the holder.
      if ((error as { code?: string }).code === '23505') {
        const winner = await this.repository.findHolder(corpId, platformUserId, wecomUserId);
        if (winner) throw conflict(winner, platformUserId);
      }
      throw error;
    }
  }

  async list(query: ListUserMappingsQueryDto): Promise<Page<UserMappingDto>> {
    const { corpId } = await this.settings.credentials();
    const page = await this.repository.page(corpId, query, query);
    return { items: page.items.map(toDto), nextCursor: page.nextCursor };
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
    const rows = await this.repository.membersOf(corpId, platformUserIds);
    return new Map(rows.map((r) => [r.platformUserId, r]));
  }

  /**
   * Of these members of `corpId`, the ones whose mapping is no longer active (they left WeCom or
   * were disabled), lower-cased: the dispatcher does not send to them. Members without a mapping
   * are not in the answer (messages may name WeCom userids directly).
   */
  async inactiveAmong(corpId: string, wecomUserIds: readonly string[]): Promise<Set<string>> {
    if (wecomUserIds.length === 0) return new Set();
    return new Set(await this.repository.inactiveAmong(corpId, wecomUserIds));
  }

  /**
   * For a sender addressing people of `corpId`: the mappings of these platform users (as
   * `membersOf`) and which of these WeCom userids belong to a member no longer active (as
   * `inactiveAmong`). Reads inside the caller's transaction when one is open.
   */
  async lookupMembers(
    corpId: string,
    platformUserIds: readonly string[],
    wecomUserIds: readonly string[],
  ): Promise<MemberLookup> {
    return {
      members: await this.membersOf(corpId, platformUserIds),
      inactive: await this.inactiveAmong(corpId, wecomUserIds),
    };
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
    const { corpId } = await this.settings.credentials();
    const allowedFrom: Record<MappingStatus, MappingStatus[]> = {
      active: ['disabled'],
      disabled: ['active'],
      left: ['active', 'disabled'],
    };
    const id = await this.repository.setStatus(
      corpId,
      wecomUserId,
      status,
      allowedFrom[status],
      this.clock.now(),
    );
    if (id === null) return null;
    const mapping = await this.find(id);
    this.logger.log(
      `Mapping of WeCom member ${mapping.wecomUserId} (platform user ${mapping.platformUserId}) is now ${status}`,
    );
    return toDto(mapping);
  }

  /**
   * An admin changed a member's userid in WeCom: the mapping follows, and so does what other
   * modules hold for the old userid (MemberRenamedEvent, in the same transaction: messaging
   * moves the messages still waiting, as a send to the old userid would find nobody). Returns the renamed
   * mapping, or null when no mapping has the old userid (already renamed: a repeated event).
   */
  async renameMember(
    oldWecomUserId: string,
    newWecomUserId: string,
  ): Promise<UserMappingDto | null> {
    const { corpId } = await this.settings.credentials();
    const taken = (holder: UserMappingDto | null, cause?: unknown) =>
      new MappingChangeError(
        `Cannot follow WeCom userid ${oldWecomUserId} -> ${newWecomUserId}: ${newWecomUserId} is already mapped to platform user ${holder?.platformUserId ?? '?'}`,
        { cause },
      );
    const holder = await this.findByWecomUserId(newWecomUserId);
    if (holder) throw taken(holder);
    try {
      const id = await this.db.transaction(async () => {
        const renamed = await this.repository.rename(corpId, oldWecomUserId, newWecomUserId);
        if (renamed === null) return null;
        await this.events.emitAsync(
          MemberRenamedEvent.key,
          new MemberRenamedEvent(corpId, oldWecomUserId, newWecomUserId),
        );
        return renamed;
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
    await this.repository.delete(row.id);
  }

  private async find(id: string): Promise<UserMappingEntity> {
    const { corpId } = await this.settings.credentials();
    const row = await this.repository.findById(corpId, id);
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
