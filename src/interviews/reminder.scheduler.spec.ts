import 'reflect-metadata';

import type { INestApplication } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { TestingModule } from '@nestjs/testing';
import request from 'supertest';

import { jobTestingModule } from '../../test/support/job-module.js';
import { createTestApp, simulatorEnv, tokenFor } from '../../test/support/test-app.js';
import {
  createTestDatabase,
  describeWithServer,
  type TestDatabase,
} from '../../test/support/test-database.js';
import { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { Clock, ManualClock } from '../common/clock.js';
import { organizationScope, type OrganizationScope } from '../common/organization-scope.js';
import { TransactionHost } from '../database/transaction-host.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import { OrganizationChangedEvent } from '../organizations/organization-events.js';
import { OrganizationsRepository } from '../organizations/organizations.repository.js';
import { OrganizationsService } from '../organizations/organizations.service.js';
import { InterviewNotifier } from './interview-notifier.js';
import type { InterviewEntity } from './interview.entity.js';
import { InterviewsRepository } from './interviews.repository.js';
import { ReminderScheduler } from './reminder.scheduler.js';
import { inOrganization } from '../../test/support/in-organization.js';

const MINUTE = 60_000;

// Real time: the poll is set to once a year, so only the scheduler's own timer can send the
// reminder on time.
describe('ReminderScheduler timer (real clock)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  let recruiter: string;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
    app = await createTestApp({
      ...db.env,
      ...simulatorEnv(sim.url),
      CRON_ENABLED: 'true',
      REMINDER_POLL_CRON: '0 0 0 1 1 *',
      DISPATCHER_POLL_MS: '100',
    });
    recruiter = await tokenFor('rec-1', 'recruiter');
    const admin = await tokenFor('admin-1', 'admin');
    await http()
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u-zhang', wecomUserId: 'zhangsan' })
      .expect(201);
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('sends a reminder at its due time without waiting for the next poll', () =>
    inOrganization(async () => {
      const startsAt = new Date(Date.now() + 15 * MINUTE + 3000);
      const due = startsAt.getTime() - 15 * MINUTE;
      const booked = await http()
        .post('/api/interviews')
        .auth(recruiter, { type: 'bearer' })
        .send({
          title: '定时提醒测试',
          candidate: { name: '王小明' },
          startsAt: startsAt.toISOString(),
          durationMinutes: 60,
          roomUrl: 'https://www.showmebug.com/pads/TIMER',
          interviewers: ['u-zhang'],
        })
        .expect(201);
      expect(booked.body.reminders).toEqual([
        expect.objectContaining({ leadMinutes: 15, state: 'pending' }),
      ]);

      // One pass as the poll would make it: nothing is due yet, so it only sets the timer.
      await app.get(ReminderScheduler).poll();
      const reminderCards = () =>
        sim.messagesFor('zhangsan').filter((m) => JSON.stringify(m.body).includes('15 分钟后开始'));
      expect(reminderCards()).toHaveLength(0);

      const deadline = Date.now() + 20_000;
      while (reminderCards().length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const cards = reminderCards();
      expect(cards).toHaveLength(1);
      expect(Date.parse(cards[0].time)).toBeGreaterThanOrEqual(due);

      const after = await http()
        .get(`/api/interviews/${booked.body.interview.id}`)
        .auth(recruiter, { type: 'bearer' })
        .expect(200);
      expect(after.body.reminders[0]).toMatchObject({ state: 'sent' });
    }));
});

/** Stands in for InterviewNotifier.reminder: records which reminder went out in which scope. */
class RecordingNotifier {
  readonly sent: { reminderId: string; interviewId: string; scope: string | undefined }[] = [];

  reminder(iv: InterviewEntity, reminder: { id: string }): Promise<string | null> {
    this.sent.push({
      reminderId: reminder.id,
      interviewId: iv.id,
      scope: organizationScope.get()?.slug,
    });
    return Promise.resolve(null);
  }
}

// Several organisations need the server: PGlite stays single-organisation.
describeWithServer('ReminderScheduler across organisations', () => {
  let db: TestDatabase;
  let moduleRef: TestingModule;
  let clock: ManualClock;
  let notifier: RecordingNotifier;
  let organizations: OrganizationsService;
  let sut: ReminderScheduler;
  let orgB: OrganizationScope;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  /** The scheduler over real migrations, the notifier faked; its poll off unless `env` says. */
  function schedulerModule(env: Record<string, string> = {}): Promise<TestingModule> {
    return jobTestingModule(
      db,
      [
        ReminderScheduler,
        InterviewsRepository,
        TransactionHost,
        OrganizationsRepository,
        OrganizationsService,
        { provide: Clock, useValue: clock },
        { provide: InterviewNotifier, useValue: notifier },
      ],
      env,
    );
  }

  beforeEach(async () => {
    clock = new ManualClock(new Date('2030-03-04T09:00:00Z'));
    notifier = new RecordingNotifier();
    moduleRef = await schedulerModule();
    sut = moduleRef.get(ReminderScheduler);
    organizations = moduleRef.get(OrganizationsService);
    await db.ownerQuery('TRUNCATE interviews CASCADE');
    await db.ownerQuery(`DELETE FROM organizations WHERE id <> $1`, [DEFAULT_ORGANIZATION.id]);
    await db.ownerQuery(`UPDATE organizations SET status = 'active'`);
    [orgB] = await db.ownerQuery(
      `INSERT INTO organizations (slug, name) VALUES ('org-b', 'B Ltd') RETURNING id, slug`,
    );
    organizations.forget();
  });

  afterEach(async () => {
    await moduleRef?.close();
  });

  /**
   * `count` interviews of `organization` starting `startsInMs` from now, each with one
   * interviewer and a 15-minute reminder due `dueInMs` from now (negative: overdue), a
   * millisecond apart and the last one exactly then. Written as the owner, so the organisation is
   * named. Returns the reminders' ids, in due order.
   */
  async function interviews(
    organization: OrganizationScope,
    count: number,
    { startsInMs = 15 * MINUTE, dueInMs = 0 } = {},
  ): Promise<string[]> {
    const now = clock.nowMs();
    const rows: { id: string }[] = await db.ownerQuery(
      `WITH iv AS (
         INSERT INTO interviews (organization_id, title, candidate_name, starts_at,
                                 duration_minutes, room_url, created_by)
         SELECT $1, 'Interview ' || g, 'Candidate ' || g,
                $3::timestamptz - ($2 - g) * interval '1 ms',
                60, 'https://www.showmebug.com/pads/R' || g, 'rec-1'
           FROM generate_series(1, $2) g
         RETURNING id, starts_at
       ), people AS (
         INSERT INTO interview_participants (organization_id, interview_id, platform_user_id, role)
         SELECT $1, id, 'u-1', 'interviewer' FROM iv
       ), reminders AS (
         INSERT INTO interview_reminders (organization_id, interview_id, kind, lead_minutes, due_at)
         SELECT $1, id, 'before_start', 15, $4::timestamptz + (starts_at - $3::timestamptz)
           FROM iv
         RETURNING id, due_at
       )
       SELECT id FROM reminders ORDER BY due_at`,
      [organization.id, count, new Date(now + startsInMs), new Date(now + dueInMs)],
    );
    return rows.map((r) => r.id);
  }

  const states = async (ids: string[]) =>
    (
      (await db.ownerQuery(
        `SELECT id, state FROM interview_reminders WHERE id = ANY($1::uuid[]) ORDER BY due_at`,
        [ids],
      )) as { id: string; state: string }[]
    ).map((r) => r.state);

  it("claims in the scope's organisation only", async () => {
    const mine = await interviews(DEFAULT_ORGANIZATION, 1);
    const theirs = await interviews(orgB, 1);
    const repository = moduleRef.get(InterviewsRepository);

    const claimed = await organizations.within(DEFAULT_ORGANIZATION, () =>
      moduleRef
        .get(TransactionHost)
        .transaction(() => repository.claimDueReminders(clock.now(), 10)),
    );

    expect(claimed.map((r) => r.id)).toEqual(mine);
    expect(await states(theirs)).toEqual(['pending']);
  });

  it("sends each organisation's reminders in its own scope, B's without waiting for A's backlog", async () => {
    const backlog = await interviews(DEFAULT_ORGANIZATION, 250);
    const [single] = await interviews(orgB, 1);

    expect(await sut.runOnce()).toEqual({ sent: 251, missed: 0, canceled: 0 });

    const scopes = new Map(notifier.sent.map((s) => [s.reminderId, s.scope]));
    expect(backlog.every((id) => scopes.get(id) === 'default')).toBe(true);
    expect(scopes.get(single)).toBe('org-b');
    // Organisations take turns a batch (100) at a time: B's comes after A's first batch, not
    // after all 250.
    expect(notifier.sent.findIndex((s) => s.reminderId === single)).toBe(100);
    expect(await states([...backlog, single])).toEqual(backlog.map(() => 'sent').concat('sent'));
  });

  it("leaves a suspended organisation's reminders pending; resumed, they go by the late-reminder rule", async () => {
    // A's: one whose interview is still ahead, one whose interview started while A was suspended.
    const [ahead] = await interviews(DEFAULT_ORGANIZATION, 1, { startsInMs: 30 * MINUTE });
    const [started] = await interviews(DEFAULT_ORGANIZATION, 1, {
      startsInMs: 10 * MINUTE,
      dueInMs: -5 * MINUTE,
    });
    const [theirs] = await interviews(orgB, 1);
    await db.ownerQuery(`UPDATE organizations SET status = 'suspended' WHERE id = $1`, [
      DEFAULT_ORGANIZATION.id,
    ]);
    organizations.forget();

    expect(await sut.runOnce()).toEqual({ sent: 1, missed: 0, canceled: 0 });
    expect(notifier.sent.map((s) => s.reminderId)).toEqual([theirs]);
    expect(await states([ahead, started])).toEqual(['pending', 'pending']);

    // Suspended for a quarter of an hour: the second interview has started meanwhile.
    clock.advance(15 * MINUTE);
    await db.ownerQuery(`UPDATE organizations SET status = 'active' WHERE id = $1`, [
      DEFAULT_ORGANIZATION.id,
    ]);
    organizations.forget();
    expect(await sut.runOnce()).toEqual({ sent: 1, missed: 1, canceled: 0 });
    expect(notifier.sent.map((s) => s.reminderId)).toEqual([theirs, ahead]);
    expect(await states([started, ahead])).toEqual(['missed', 'sent']);
  });

  describe('with its poll on', () => {
    let running: TestingModule | undefined;

    afterEach(async () => {
      await running?.close();
      running = undefined;
    });

    it("takes up a resumed organisation's reminders at once, not at the next poll", async () => {
      const [waiting] = await interviews(DEFAULT_ORGANIZATION, 1);
      await db.ownerQuery(`UPDATE organizations SET status = 'suspended' WHERE id = $1`, [
        DEFAULT_ORGANIZATION.id,
      ]);
      // An instance whose poll is on, but would not run again within the spec.
      running = await schedulerModule({ CRON_ENABLED: 'true', REMINDER_POLL_CRON: '0 0 0 1 1 *' });
      clock.advance(5 * MINUTE);

      // What the operator's PATCH does once committed: the copy forgotten, the event published.
      await db.ownerQuery(`UPDATE organizations SET status = 'active' WHERE id = $1`, [
        DEFAULT_ORGANIZATION.id,
      ]);
      const organizationsThere = running.get(OrganizationsService);
      organizationsThere.forget();
      const resumed = (await organizationsThere.find(DEFAULT_ORGANIZATION.id))!;
      running
        .get(EventEmitter2)
        .emit(
          OrganizationChangedEvent.key,
          new OrganizationChangedEvent(resumed, { ...resumed, status: 'suspended' }),
        );

      const deadline = Date.now() + 5000;
      while ((await states([waiting]))[0] === 'pending' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await states([waiting])).toEqual(['sent']);
      expect(notifier.sent).toEqual([
        { reminderId: waiting, interviewId: expect.any(String), scope: 'default' },
      ]);
    });
  });
});
