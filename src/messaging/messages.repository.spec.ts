import {
  createMigratedDatabase,
  type MigratedDatabase,
} from '../../test/support/migrated-database.js';
import { ManualClock } from '../common/clock.js';
import { TransactionHost } from '../database/transaction-host.js';
import type { MetricsService } from '../metrics/metrics.service.js';
import type { MemberMapping, MembersRead } from '../user-mappings/member.js';
import type { UserMappingsService } from '../user-mappings/user-mappings.service.js';
import type { WeComSettings } from '../wecom/wecom-settings.js';
import { MessageDispatchSignal } from './message-dispatch-signal.js';
import { MessagesRepository } from './messages.repository.js';
import { MessagingService, type SendRequest } from './messaging.service.js';
import { inOrganization } from '../../test/support/in-organization.js';

/** MessagingService.send through MessagesRepository and the mappings, on the real schema. */
describe(`${MessagingService.name} through ${MessagesRepository.name}`, () => {
  let database: MigratedDatabase;
  let host: TransactionHost;
  let sut: MessagingService;
  let wakes = 0;
  let lookups = 0;
  const clock = new ManualClock(new Date('2030-01-02T03:04:05.000Z'));

  beforeAll(async () => {
    database = await createMigratedDatabase({ poolSize: 2 });
    ({ host } = database);
    const settings = {
      credentials: () => ({ corpId: 'corp-1', corpSecret: 's', agentId: 1000002 }),
    } as unknown as WeComSettings;
    // The mappings module's answer for corp-1 (its own spec covers how it is read).
    const mapped: MemberMapping[] = [
      { platformUserId: 'u-zhang', wecomUserId: 'ZhangSan', status: 'active', language: 'zh' },
      { platformUserId: 'u-li', wecomUserId: 'lisi', status: 'left', language: 'zh' },
      { platformUserId: 'u-old', wecomUserId: '@all', status: 'active', language: 'zh' },
    ];
    const mappings = {
      lookupMembers: async (corpId: string, platformUserIds: string[], wecomUserIds: string[]) => {
        expect(corpId).toBe('corp-1');
        lookups++;
        const members = mapped.filter((m) => platformUserIds.includes(m.platformUserId));
        const inactive = mapped
          .filter((m) => m.status !== 'active')
          .map((m) => m.wecomUserId.toLowerCase())
          .filter((id) => wecomUserIds.some((w) => w.toLowerCase() === id));
        return {
          members: new Map(members.map((m) => [m.platformUserId, m])),
          inactive: new Set(inactive),
        };
      },
    } as unknown as UserMappingsService;
    const signal = new MessageDispatchSignal();
    signal.onWake(() => wakes++);
    const metrics = { messagesQueued: { inc: () => undefined } } as unknown as MetricsService;
    sut = new MessagingService(
      new MessagesRepository(host),
      mappings,
      host,
      settings,
      clock,
      signal,
      metrics,
    );
  });

  afterAll(async () => {
    await database?.close();
  });

  beforeEach(() => {
    wakes = 0;
    lookups = 0;
  });

  const text = (to: SendRequest['to'], idempotencyKey?: string): SendRequest => ({
    kind: 'test.text',
    msgtype: 'text',
    content: { content: 'hello' },
    to,
    idempotencyKey,
  });
  const recipientsOf = async (id: string) =>
    database.db.ownerQuery(
      `SELECT platform_user_id, wecom_user_id, status FROM message_recipients
        WHERE message_id = $1 ORDER BY id`,
      [id],
    );

  it('stores the message with its recipients in the order named, resolved through the mappings', () =>
    inOrganization(async () => {
      const message = await sut.send(
        text([
          { platformUserId: 'u-li' },
          { wecomUserId: 'LISI' },
          { platformUserId: 'u-zhang' },
          { wecomUserId: 'zhangsan' },
          { platformUserId: 'u-old' },
          { platformUserId: 'u-other' },
        ]),
      );
      expect(message.status).toBe('queued');
      expect(message.nextAttemptAt).toEqual(clock.now());
      expect(await recipientsOf(message.id)).toEqual([
        { platform_user_id: 'u-li', wecom_user_id: 'lisi', status: 'inactive_mapping' },
        { platform_user_id: 'u-zhang', wecom_user_id: 'ZhangSan', status: 'pending' },
        { platform_user_id: 'u-old', wecom_user_id: null, status: 'no_mapping' },
        { platform_user_id: 'u-other', wecom_user_id: null, status: 'no_mapping' },
      ]);
      const [row] = await database.db.ownerQuery(
        `SELECT status, next_attempt_at FROM messages WHERE id = $1`,
        [message.id],
      );
      expect(row).toEqual({ status: 'queued', next_attempt_at: clock.now() });
      expect(wakes).toBe(1);
    }));

  it('keeps a message nobody can receive as skipped, never queued', () =>
    inOrganization(async () => {
      const message = await sut.send(text([{ platformUserId: 'u-li' }, { platformUserId: 'u-x' }]));
      expect(message.status).toBe('skipped');
      const [row] = await database.db.ownerQuery(
        `SELECT status, next_attempt_at FROM messages WHERE id = $1`,
        [message.id],
      );
      expect(row).toEqual({ status: 'skipped', next_attempt_at: null });
    }));

  it('answers a repeated idempotency key with the first message and writes nothing', () =>
    inOrganization(async () => {
      const first = await sut.send(text([{ wecomUserId: 'zhangsan' }], 'key-1'));
      const again = await sut.send(text([{ wecomUserId: 'lisi' }], 'key-1'));
      expect(again.id).toBe(first.id);
      expect(await recipientsOf(first.id)).toEqual([
        { platform_user_id: null, wecom_user_id: 'zhangsan', status: 'pending' },
      ]);
    }));

  it('writes several messages in one call, each with its own recipients and times, answered in the order asked', () =>
    inOrganization(async () => {
      const later = new Date(clock.now().getTime() + 3_600_000);
      const tricky = { content: 'quote " backslash \\ brace { 中文 \u{1F600}' };
      const [a, b, c] = await sut.sendMany([
        { ...text([{ platformUserId: 'u-zhang' }, { wecomUserId: 'stranger' }]), groupKey: 'g-1' },
        { ...text([{ platformUserId: 'u-li' }]), kind: 'test.other' },
        {
          ...text([{ wecomUserId: 'other' }, { platformUserId: 'u-zhang' }]),
          content: tricky,
          notBefore: later,
          createdBy: 'u-recruiter',
        },
      ]);
      expect([a.kind, a.groupKey, a.status, a.nextAttemptAt]).toEqual([
        'test.text',
        'g-1',
        'queued',
        clock.now(),
      ]);
      expect([b.kind, b.status, b.nextAttemptAt]).toEqual(['test.other', 'skipped', null]);
      expect([c.status, c.nextAttemptAt, c.createdBy]).toEqual(['queued', later, 'u-recruiter']);
      const rows = await database.db.ownerQuery(
        `SELECT m.id, m.kind, m.content, m.group_key, m.status, m.next_attempt_at, m.created_by,
                r.platform_user_id, r.wecom_user_id, r.status AS recipient
           FROM message_recipients r JOIN messages m ON m.id = r.message_id
          WHERE m.id = ANY($1::uuid[]) ORDER BY r.id`,
        [[a.id, b.id, c.id]],
      );
      expect(rows.map((r) => [r.id, r.platform_user_id, r.wecom_user_id, r.recipient])).toEqual([
        [a.id, 'u-zhang', 'ZhangSan', 'pending'],
        [a.id, null, 'stranger', 'pending'],
        [b.id, 'u-li', 'lisi', 'inactive_mapping'],
        [c.id, null, 'other', 'pending'],
        [c.id, 'u-zhang', 'ZhangSan', 'pending'],
      ]);
      expect(rows[0]).toMatchObject({ kind: 'test.text', group_key: 'g-1', status: 'queued' });
      expect(rows[2]).toMatchObject({
        kind: 'test.other',
        status: 'skipped',
        next_attempt_at: null,
      });
      expect(rows[3]).toMatchObject({
        content: tricky,
        next_attempt_at: later,
        created_by: 'u-recruiter',
      });
      expect(wakes).toBe(1);
    }));

  it('answers a key taken before with that message and writes the others of the call', () =>
    inOrganization(async () => {
      const first = await sut.send(text([{ wecomUserId: 'zhangsan' }], 'key-batch'));
      const [fresh, again] = await sut.sendMany([
        text([{ wecomUserId: 'stranger' }], 'key-batch-new'),
        text([{ wecomUserId: 'lisi' }], 'key-batch'),
      ]);
      expect(again).toMatchObject({ id: first.id, idempotencyKey: 'key-batch', status: 'queued' });
      expect(await recipientsOf(first.id)).toEqual([
        { platform_user_id: null, wecom_user_id: 'zhangsan', status: 'pending' },
      ]);
      expect(fresh.id).not.toBe(first.id);
      expect(await recipientsOf(fresh.id)).toEqual([
        { platform_user_id: null, wecom_user_id: 'stranger', status: 'pending' },
      ]);
    }));

  it('writes a key asked twice in one call once, and answers both with the first', () =>
    inOrganization(async () => {
      const [one, two] = await sut.sendMany([
        text([{ wecomUserId: 'stranger' }], 'key-twice'),
        text([{ wecomUserId: 'zhangsan' }], 'key-twice'),
      ]);
      expect(two.id).toBe(one.id);
      expect(await recipientsOf(one.id)).toEqual([
        { platform_user_id: null, wecom_user_id: 'stranger', status: 'pending' },
      ]);
      const [{ n }] = await database.db.ownerQuery(
        `SELECT count(*)::int AS n FROM messages WHERE idempotency_key = 'key-twice'`,
      );
      expect(n).toBe(1);
    }));

  it('resolves through mappings the caller has read when they answer for every recipient, and looks them up otherwise', () =>
    inOrganization(async () => {
      // What the caller read differs from the mappings module's answer, to tell them apart.
      const read: MembersRead = {
        corpId: 'corp-1',
        asked: new Set(['u-zhang', 'u-gone']),
        members: new Map([
          [
            'u-zhang',
            { platformUserId: 'u-zhang', wecomUserId: 'zs-read', status: 'active', language: 'en' },
          ],
        ]),
      };
      const [fromRead] = await sut.sendMany(
        [text([{ platformUserId: 'u-zhang' }, { platformUserId: 'u-gone' }])],
        read,
      );
      expect(lookups).toBe(0);
      expect(await recipientsOf(fromRead.id)).toEqual([
        { platform_user_id: 'u-zhang', wecom_user_id: 'zs-read', status: 'pending' },
        { platform_user_id: 'u-gone', wecom_user_id: null, status: 'no_mapping' },
      ]);

      // Someone it was not asked about, a WeCom userid (its status needs a lookup), another corp.
      const notCovering: [SendRequest['to'], MembersRead][] = [
        [[{ platformUserId: 'u-zhang' }, { platformUserId: 'u-li' }], read],
        [[{ platformUserId: 'u-zhang' }, { wecomUserId: 'lisi' }], read],
        [[{ platformUserId: 'u-zhang' }], { ...read, corpId: 'corp-2' }],
      ];
      for (const [to, given] of notCovering) {
        const [message] = await sut.sendMany([text(to)], given);
        const [first] = await recipientsOf(message.id);
        expect(first).toEqual({
          platform_user_id: 'u-zhang',
          wecom_user_id: 'ZhangSan',
          status: 'pending',
        });
      }
      expect(lookups).toBe(3);
    }));

  it("joins the caller's transaction: wakes the dispatcher after its commit, and not after a rollback", () =>
    inOrganization(async () => {
      let sent = '';
      await host.transaction(async () => {
        sent = (await sut.send(text([{ wecomUserId: 'zhangsan' }]))).id;
        expect(wakes).toBe(0);
      });
      expect(wakes).toBe(1);
      expect(await recipientsOf(sent)).toHaveLength(1);

      await expect(
        host.transaction(async () => {
          sent = (await sut.send(text([{ wecomUserId: 'zhangsan' }]))).id;
          throw new Error('the caller fails');
        }),
      ).rejects.toThrow('the caller fails');
      expect(wakes).toBe(1);
      expect(await database.db.ownerQuery(`SELECT id FROM messages WHERE id = $1`, [sent])).toEqual(
        [],
      );
    }));
});
