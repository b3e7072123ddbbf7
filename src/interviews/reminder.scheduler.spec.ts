import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { createTestApp, simulatorEnv, tokenFor } from '../../test/support/test-app.js';
import { createTestDatabase, type TestDatabase } from '../../test/support/test-database.js';
import { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
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
