import { randomUUID } from 'node:crypto';

import { ConflictException, PreconditionFailedException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

import { openMigratedDataSource } from '../../test/support/migrated-database.js';
import { createTestDatabase, type TestDatabase } from '../../test/support/test-database.js';
import type { AuthUser } from '../auth/roles.js';
import { Clock, ManualClock } from '../common/clock.js';
import { TransactionHost } from '../database/transaction-host.js';
import { MessageHistoryService } from '../messaging/message-history.service.js';
import type { MessageEntity } from '../messaging/message.entity.js';
import { MessagingService, type SendRequest } from '../messaging/messaging.service.js';
import { RuntimeSettings } from '../settings/runtime-settings.js';
import type { MemberMapping } from '../user-mappings/member.js';
import { UserMappingsService } from '../user-mappings/user-mappings.service.js';
import { WeComSettings } from '../wecom/wecom-settings.js';
import type { CreateInterviewDto } from './dto/create-interview.dto.js';
import { InterviewNotificationComposer } from './interview-notification.composer.js';
import { InterviewNotifier } from './interview-notifier.js';
import { InterviewsRepository } from './interviews.repository.js';
import { InterviewsService } from './interviews.service.js';
import { inOrganization } from '../../test/support/in-organization.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const CORP = 'ww-medium';

/**
 * Stands in for the outbox. Like the real MessagingService it joins the caller's TransactionHost
 * transaction: a request is recorded only once that transaction commits, so `queued` is what the
 * outbox would hold, and a rolled-back booking leaves nothing there. `failOn` makes a send throw
 * as a failing outbox write would.
 */
class RecordingMessaging {
  readonly queued: SendRequest[] = [];
  failOn?: (request: SendRequest) => boolean;

  constructor(private readonly db: TransactionHost) {}

  /** As MessagingService's: all of them or none, answered in the order asked. */
  sendMany(requests: readonly SendRequest[]): Promise<MessageEntity[]> {
    if (requests.some((r) => this.failOn?.(r))) {
      return Promise.reject(new Error('outbox write failed'));
    }
    this.db.afterCommit(() => this.queued.push(...requests));
    return Promise.resolve(requests.map(() => ({ id: randomUUID() }) as MessageEntity));
  }

  async send(request: SendRequest): Promise<MessageEntity> {
    const [message] = await this.sendMany([request]);
    return message;
  }
}

const MEMBERS: MemberMapping[] = [
  { platformUserId: 'u-zhang', wecomUserId: 'zhangsan', status: 'active', language: 'zh' },
  { platformUserId: 'u-emily', wecomUserId: 'emily', status: 'active', language: 'en' },
  { platformUserId: 'u-li', wecomUserId: 'lisi', status: 'disabled', language: 'zh' },
  { platformUserId: 'rec-1', wecomUserId: 'zhaoliu', status: 'active', language: 'zh' },
];

describe(InterviewsService.name, () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  let clock: ManualClock;
  let messaging: RecordingMessaging;
  let sut: InterviewsService;
  const recruiter: AuthUser = { id: 'rec-1', roles: ['recruiter'] };

  beforeAll(async () => {
    db = await createTestDatabase();
    dataSource = await openMigratedDataSource(db);
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));

    const moduleRef = await Test.createTestingModule({
      providers: [
        { provide: getDataSourceToken(), useValue: dataSource },
        TransactionHost,
        InterviewsRepository,
        InterviewsService,
        InterviewNotifier,
        InterviewNotificationComposer,
        { provide: Clock, useValue: clock },
        {
          provide: MessagingService,
          inject: [TransactionHost],
          useFactory: (host: TransactionHost) => new RecordingMessaging(host),
        },
        {
          provide: RuntimeSettings,
          useValue: {
            current: () => ({
              corpId: CORP,
              options: {
                reminderLeadTimesMin: [15, 60],
                feedbackNudgeMin: 30,
                quietHours: null,
                defaultLanguage: 'zh',
              },
            }),
          },
        },
        {
          provide: WeComSettings,
          useValue: { credentials: () => ({ corpId: CORP, corpSecret: 'unused', agentId: 1 }) },
        },
        {
          provide: UserMappingsService,
          useValue: {
            membersOf: (corpId: string, ids: readonly string[]) =>
              Promise.resolve(
                new Map(
                  corpId === CORP
                    ? MEMBERS.filter((m) => ids.includes(m.platformUserId)).map((m) => [
                        m.platformUserId,
                        m,
                      ])
                    : [],
                ),
              ),
          },
        },
        { provide: MessageHistoryService, useValue: {} },
      ],
    }).compile();
    sut = moduleRef.get(InterviewsService);
    messaging = moduleRef.get<RecordingMessaging>(MessagingService);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  beforeEach(() => {
    messaging.queued.length = 0;
    messaging.failOn = undefined;
    clock.advance(HOUR);
  });

  const booking = (overrides: Partial<CreateInterviewDto> = {}): CreateInterviewDto => ({
    title: '前端工程师 二面',
    candidate: { name: '王小明', platformUserId: 'c-wang' },
    startsAt: new Date(clock.nowMs() + 2 * 24 * HOUR).toISOString(),
    durationMinutes: 60,
    roomUrl: 'https://www.showmebug.com/pads/MEDIUM',
    interviewers: ['u-zhang', 'u-emily'],
    observers: ['u-li'],
    ...overrides,
  });

  const count = async (table: string, interviewId?: string): Promise<number> => {
    const where = interviewId
      ? ` WHERE ${table === 'interviews' ? 'id' : 'interview_id'} = $1`
      : '';
    const [{ n }] = await db.ownerQuery(
      `SELECT count(*)::int AS n FROM ${table}${where}`,
      interviewId ? [interviewId] : [],
    );
    return n;
  };

  const sent = () =>
    messaging.queued.map((m) => ({
      kind: m.kind,
      to: m.to.map((r) => ('platformUserId' in r ? r.platformUserId : r.wecomUserId)),
      key: m.idempotencyKey,
    }));

  describe('create', () => {
    it('writes the interview, its participants, reminders and invitations together', () =>
      inOrganization(async () => {
        const dto = booking();
        const { interview } = await sut.create(dto, recruiter);
        const id = interview.id;
        const startsAt = new Date(dto.startsAt).getTime();

        const [row] = await db.ownerQuery(
          'SELECT title, status, version, created_by FROM interviews WHERE id = $1',
          [id],
        );
        expect(row).toEqual({
          title: '前端工程师 二面',
          status: 'scheduled',
          version: 1,
          created_by: 'rec-1',
        });
        const participants = await db.ownerQuery(
          `SELECT platform_user_id, role, rsvp FROM interview_participants
          WHERE interview_id = $1 ORDER BY platform_user_id`,
          [id],
        );
        expect(participants).toEqual([
          { platform_user_id: 'c-wang', role: 'candidate', rsvp: 'pending' },
          { platform_user_id: 'rec-1', role: 'recruiter', rsvp: 'pending' },
          { platform_user_id: 'u-emily', role: 'interviewer', rsvp: 'pending' },
          { platform_user_id: 'u-li', role: 'observer', rsvp: 'pending' },
          { platform_user_id: 'u-zhang', role: 'interviewer', rsvp: 'pending' },
        ]);
        const reminders: { kind: string; lead_minutes: number; due_at: Date; state: string }[] =
          await db.ownerQuery(
            `SELECT kind, lead_minutes, due_at, state FROM interview_reminders
            WHERE interview_id = $1 ORDER BY due_at`,
            [id],
          );
        expect(reminders.map((r) => [r.kind, r.lead_minutes, r.due_at.getTime(), r.state])).toEqual(
          [
            ['before_start', 60, startsAt - 60 * MINUTE, 'pending'],
            ['before_start', 15, startsAt - 15 * MINUTE, 'pending'],
            ['feedback', 30, startsAt + 90 * MINUTE, 'pending'],
          ],
        );

        expect(sent()).toEqual(
          expect.arrayContaining([
            {
              kind: 'interview.invited',
              to: ['u-zhang'],
              key: `interview:${id}:invited:v1:u-zhang`,
            },
            {
              kind: 'interview.invited',
              to: ['u-emily'],
              key: `interview:${id}:invited:v1:u-emily`,
            },
            { kind: 'interview.invited', to: ['u-li'], key: `interview:${id}:invited:v1:u-li` },
            { kind: 'interview.booked', to: ['rec-1'], key: `interview:${id}:booked:v1:rec-1` },
            { kind: 'interview.invited', to: ['c-wang'], key: `interview:${id}:invited:v1:c-wang` },
          ]),
        );
        expect(messaging.queued).toHaveLength(5);
        expect(messaging.queued.every((m) => m.groupKey === id && m.createdBy === 'rec-1')).toBe(
          true,
        );
        // The invitation card speaks the member's language.
        const emily = messaging.queued.find((m) =>
          m.to.some((r) => 'platformUserId' in r && r.platformUserId === 'u-emily'),
        );
        expect(JSON.stringify(emily?.content)).toContain('"text":"Accept"');
      }));

    it('rolls the interview back when one of its messages cannot be queued', () =>
      inOrganization(async () => {
        const before = await Promise.all(
          ['interviews', 'interview_participants', 'interview_reminders'].map((t) => count(t)),
        );
        messaging.failOn = (m) => m.kind === 'interview.booked';

        await expect(sut.create(booking({ title: '不该留下' }), recruiter)).rejects.toThrow(
          'outbox write failed',
        );

        const after = await Promise.all(
          ['interviews', 'interview_participants', 'interview_reminders'].map((t) => count(t)),
        );
        expect(after).toEqual(before);
        const [{ n }] = await db.ownerQuery(
          `SELECT count(*)::int AS n FROM interviews WHERE title = '不该留下'`,
        );
        expect(n).toBe(0);
        // The invitations sent before the failing receipt went with the rollback.
        expect(messaging.queued).toEqual([]);
      }));
  });

  describe('update', () => {
    it('moves the reminders with a new time and tells everyone of it', () =>
      inOrganization(async () => {
        const { interview } = await sut.create(booking(), recruiter);
        messaging.queued.length = 0;
        // Forty minutes from now: the 60-minute lead is already behind, so it is not planned.
        const newStart = clock.nowMs() + 40 * MINUTE;

        const changed = await sut.update(
          interview.id,
          { startsAt: new Date(newStart).toISOString() },
          '"1"',
          recruiter,
        );

        expect(changed.interview).toMatchObject({ version: 2 });
        expect(changed.reminders.map((r) => [r.kind, r.leadMinutes, Date.parse(r.dueAt)])).toEqual([
          ['before_start', 15, newStart - 15 * MINUTE],
          ['feedback', 30, newStart + 90 * MINUTE],
        ]);
        expect(await count('interview_reminders', interview.id)).toBe(2);
        expect(sent()).toEqual(
          expect.arrayContaining(
            ['u-zhang', 'u-emily', 'u-li', 'rec-1', 'c-wang'].map((p) => ({
              kind: 'interview.rescheduled',
              to: [p],
              key: `interview:${interview.id}:rescheduled:v2:${p}`,
            })),
          ),
        );
        expect(messaging.queued).toHaveLength(5);
      }));

    it.each([
      ['If-Match, with a 412', '"1"', undefined, PreconditionFailedException],
      ['the body, with a 409', undefined, 1, ConflictException],
    ])(
      'refuses a change based on a stale version in %s, and changes nothing',
      (_, ifMatch, version, refusal) =>
        inOrganization(async () => {
          const { interview } = await sut.create(booking(), recruiter);
          await sut.update(interview.id, { title: '三面' }, '"1"', recruiter);
          messaging.queued.length = 0;

          const stale = sut.update(interview.id, { title: '四面', version }, ifMatch, recruiter);

          await expect(stale).rejects.toBeInstanceOf(refusal);
          await expect(stale).rejects.toMatchObject({
            response: {
              message: 'Interview changed since version 1 (now version 2); reload it and try again',
              version: 2,
            },
          });
          const [row] = await db.ownerQuery('SELECT title, version FROM interviews WHERE id = $1', [
            interview.id,
          ]);
          expect(row).toEqual({ title: '三面', version: 2 });
          expect(messaging.queued).toEqual([]);
        }),
    );
  });

  describe('cancel', () => {
    it('cancels the pending reminders and tells every participant, with the reason', () =>
      inOrganization(async () => {
        const { interview } = await sut.create(booking(), recruiter);
        messaging.queued.length = 0;

        const canceled = await sut.cancel(interview.id, { reason: '候选人改期' }, recruiter);

        expect(canceled.interview).toMatchObject({
          status: 'canceled',
          cancelReason: '候选人改期',
          version: 2,
        });
        const states = await db.ownerQuery(
          'SELECT DISTINCT state, processed_at FROM interview_reminders WHERE interview_id = $1',
          [interview.id],
        );
        expect(states).toEqual([{ state: 'canceled', processed_at: clock.now() }]);
        expect(
          sent()
            .map((m) => m.to[0])
            .sort(),
        ).toEqual(['c-wang', 'rec-1', 'u-emily', 'u-li', 'u-zhang']);
        expect(sent().every((m) => m.kind === 'interview.canceled')).toBe(true);
        expect(JSON.stringify(messaging.queued.map((m) => m.content))).toContain('候选人改期');

        await expect(sut.cancel(interview.id, {}, recruiter)).rejects.toThrow(
          'Interview is already canceled',
        );
      }));
  });

  describe('respond', () => {
    it('records an answer once: the same answer again changes nothing and tells nobody', () =>
      inOrganization(async () => {
        const { interview } = await sut.create(booking(), recruiter);
        messaging.queued.length = 0;
        const answeredAt = clock.now();

        const first = await sut.respond(interview.id, 'u-zhang', 'accepted');
        clock.advance(5 * MINUTE);
        const again = await sut.respond(interview.id, 'u-zhang', 'accepted');

        expect(first).toEqual({
          platformUserId: 'u-zhang',
          role: 'interviewer',
          rsvp: 'accepted',
          respondedAt: answeredAt.toISOString(),
          wecom: 'active',
        });
        expect(again).toEqual(first);
        const [row] = await db.ownerQuery(
          `SELECT rsvp, responded_at FROM interview_participants
          WHERE interview_id = $1 AND platform_user_id = 'u-zhang'`,
          [interview.id],
        );
        expect(row).toEqual({ rsvp: 'accepted', responded_at: answeredAt });
        expect(sent()).toEqual([
          {
            kind: 'interview.responded',
            to: ['rec-1'],
            key: expect.stringMatching(`^interview:${interview.id}:rsvp:`),
          },
        ]);
      }));

    it('lets only the panel answer', () =>
      inOrganization(async () => {
        const { interview } = await sut.create(booking(), recruiter);
        await expect(sut.respond(interview.id, 'c-wang', 'declined')).rejects.toThrow(
          'Only interviewers and observers answer an invitation',
        );
        await expect(sut.respond(interview.id, 'u-nobody', 'declined')).rejects.toThrow(
          'Interview not found',
        );
      }));
  });
});
