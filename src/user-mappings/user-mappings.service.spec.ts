import { EventEmitter2 } from '@nestjs/event-emitter';

import {
  createMigratedDatabase,
  type MigratedDatabase,
} from '../../test/support/migrated-database.js';
import { ManualClock } from '../common/clock.js';
import { TransactionHost } from '../database/transaction-host.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import type { WeComSettings } from '../wecom/wecom-settings.js';
import { MemberRenamedEvent } from './member.js';
import { MappingChangeError, UserMappingsService } from './user-mappings.service.js';
import { UserMappingsRepository } from './user-mappings.repository.js';
import { inOrganization } from '../../test/support/in-organization.js';

describe(UserMappingsService.name, () => {
  let database: MigratedDatabase;
  let host: TransactionHost;
  let events: EventEmitter2;
  let sut: UserMappingsService;
  const clock = new ManualClock(new Date('2030-01-02T03:04:05.000Z'));

  beforeAll(async () => {
    database = await createMigratedDatabase({ poolSize: 2 });
    ({ host } = database);
    const settings = {
      credentials: () => ({ corpId: 'corp-1', corpSecret: 's', agentId: 1000002 }),
    } as unknown as WeComSettings;
    events = new EventEmitter2();
    // No WeCom client or runtime settings: nothing here resolves members in WeCom.
    sut = new UserMappingsService(
      new UserMappingsRepository(host),
      host,
      events,
      undefined as never,
      settings,
      undefined as never,
      clock,
    );
  });

  afterAll(async () => {
    await database?.close();
  });

  beforeEach(async () => {
    events.removeAllListeners();
    // Arranged as the owner, in the default organisation the tests run in.
    await database.db.ownerQuery(`DELETE FROM user_mappings`);
    await database.db.ownerQuery(
      `INSERT INTO user_mappings
         (organization_id, corp_id, platform_user_id, wecom_user_id, source, status)
       VALUES ($1, 'corp-1', 'u-zhang', 'ZhangSan', 'admin', 'active'),
              ($1, 'corp-1', 'u-li', 'lisi', 'admin', 'disabled'),
              ($1, 'corp-2', 'u-wang', 'wangwu', 'admin', 'left')`,
      [DEFAULT_ORGANIZATION.id],
    );
  });

  const wecomIdOf = async (platformUserId: string) =>
    (
      await database.db.ownerQuery(
        `SELECT wecom_user_id FROM user_mappings WHERE platform_user_id = $1`,
        [platformUserId],
      )
    )[0]?.wecom_user_id;

  it("looks up one corp's members by platform id, and its inactive ones by WeCom userid in any case", () =>
    inOrganization(async () => {
      const lookup = await sut.lookupMembers(
        'corp-1',
        ['u-zhang', 'u-wang', 'u-zhang'],
        ['LISI', 'zhangsan', 'wangwu'],
      );
      expect([...lookup.members.values()]).toEqual([
        { platformUserId: 'u-zhang', wecomUserId: 'ZhangSan', status: 'active', language: 'zh' },
      ]);
      expect([...lookup.inactive]).toEqual(['lisi']);
    }));

  it('a left member stays left; a disabled one comes back', () =>
    inOrganization(async () => {
      expect(await sut.setMemberStatus('lisi', 'active')).toMatchObject({ status: 'active' });
      expect(await sut.setMemberStatus('LiSi', 'left')).toMatchObject({ status: 'left' });
      expect(await sut.setMemberStatus('lisi', 'active')).toBeNull();
      expect(await sut.setMemberStatus('lisi', 'left')).toBeNull();
    }));

  it('a rename is published inside its transaction: what a listener writes commits with it', () =>
    inOrganization(async () => {
      const seen: MemberRenamedEvent[] = [];
      events.on(MemberRenamedEvent.key, async (event: MemberRenamedEvent) => {
        seen.push(event);
        // Sees the renamed row: the listener runs in the rename's transaction.
        await host.run((m) =>
          m.query(`UPDATE user_mappings SET language = 'en' WHERE wecom_user_id = $1`, [
            event.newWecomUserId,
          ]),
        );
      });
      expect(await sut.renameMember('zhangsan', 'zhang.san')).toMatchObject({
        platformUserId: 'u-zhang',
        wecomUserId: 'zhang.san',
        language: 'en',
      });
      expect(seen).toEqual([new MemberRenamedEvent('corp-1', 'zhangsan', 'zhang.san')]);
    }));

  it('a listener that fails rolls the rename back', () =>
    inOrganization(async () => {
      events.on(MemberRenamedEvent.key, async () => {
        throw new Error('messages could not follow');
      });
      await expect(sut.renameMember('ZhangSan', 'zhang.san')).rejects.toThrow(
        'messages could not follow',
      );
      expect(await wecomIdOf('u-zhang')).toBe('ZhangSan');
    }));

  it('refuses a rename onto a userid mapped already', () =>
    inOrganization(async () => {
      await expect(sut.renameMember('zhangsan', 'LISI')).rejects.toThrow(MappingChangeError);
      expect(await wecomIdOf('u-zhang')).toBe('ZhangSan');
    }));
});
