import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { ManualClock } from '../src/common/clock.js';
import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { createTestApp, simulatorEnv, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

describe('Quiet hours (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let recruiter: string;
  const http = () => request(app.getHttpServer());
  const deliver = () => app.get(MessageDispatcher).drain();
  const cardsFor = (userid: string, room: string) =>
    sim.messagesFor(userid).filter((m) => JSON.stringify(m.body).includes(room));

  beforeAll(async () => {
    db = await createTestDatabase();
    // 23:00 in Shanghai.
    clock = new ManualClock(new Date('2026-11-23T15:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) }, { clock });
    const admin = await tokenFor('admin-1', 'admin');
    recruiter = await tokenFor('rec-1', 'recruiter');
    await http()
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u-zhang', wecomUserId: 'zhangsan' })
      .expect(201);
    await http()
      .patch('/api/admin/config')
      .auth(admin, { type: 'bearer' })
      .send({ quietHours: { start: '22:00', end: '08:00' } })
      .expect(200);
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  const book = (room: string, startsAt: string) =>
    http()
      .post('/api/interviews')
      .auth(recruiter, { type: 'bearer' })
      .send({
        title: '夜间预约',
        candidate: { name: '张伟' },
        startsAt,
        durationMinutes: 30,
        roomUrl: `https://www.showmebug.com/pads/${room}`,
        interviewers: ['u-zhang'],
      })
      .expect(201);

  it('holds an invitation booked at night until 08:00 in the interview’s time zone', async () => {
    await book('QUIET1', '2026-11-25T06:00:00Z'); // 14:00 the day after tomorrow
    await deliver();
    expect(cardsFor('zhangsan', 'QUIET1')).toHaveLength(0);

    clock.set(new Date('2026-11-23T23:59:00Z')); // 07:59
    await deliver();
    expect(cardsFor('zhangsan', 'QUIET1')).toHaveLength(0);

    clock.set(new Date('2026-11-24T00:00:00Z')); // 08:00
    await deliver();
    expect(cardsFor('zhangsan', 'QUIET1')).toHaveLength(1);
  });

  it('sends at once when the interview itself falls inside the quiet window', async () => {
    clock.set(new Date('2026-11-24T15:30:00Z')); // 23:30
    await book('QUIET2', '2026-11-24T22:30:00Z'); // 06:30 next morning
    await deliver();
    expect(cardsFor('zhangsan', 'QUIET2')).toHaveLength(1);
  });
});
