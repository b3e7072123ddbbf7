import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { ManualClock } from '../src/common/clock.js';
import { UserMappingsService } from '../src/user-mappings/user-mappings.service.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { inOrganization } from './support/in-organization.js';
import { createTestApp, mapPeople, simulatorEnv, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

const DAY = 86_400_000;

describe('Participants WeCom will not reach (GET /api/interview-participants/unmapped, e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let admin: string;
  const http = () => request(app.getHttpServer());

  async function book(title: string, startsInDays: number, interviewers: string[]) {
    const res = await http()
      .post('/api/interviews')
      .auth(admin, { type: 'bearer' })
      .send({
        title,
        candidate: { name: '王小明' },
        startsAt: new Date(clock.nowMs() + startsInDays * DAY).toISOString(),
        durationMinutes: 60,
        roomUrl: 'https://www.showmebug.com/pads/AB12CD',
        interviewers,
      })
      .expect(201);
    return res.body.interview.id as string;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) }, { clock });
    admin = await tokenFor('admin-1', 'admin');
    await mapPeople(app, admin, [
      ['u-zhang', 'zhangsan'],
      ['u-li', 'lisi'],
    ]);
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('lists the unmapped and inactive participants of recent and upcoming interviews, soonest first', async () => {
    await book('一面', 10, ['u-zhang', 'u-new']);
    const soon = await book('二面', 2, ['u-new', 'u-other']);
    const cancelled = await book('取消的', 3, ['u-only-cancelled']);
    await http()
      .post(`/api/interviews/${cancelled}/cancel`)
      .auth(admin, { type: 'bearer' })
      .send({})
      .expect(200);
    // lisi leaves the corp (what the contact event does, in its organisation): the mapping
    // stays, as `left`.
    await inOrganization(() => app.get(UserMappingsService).setMemberStatus('lisi', 'left'));
    await book('三面', 5, ['u-li']);

    const upcoming = await http()
      .get('/api/interview-participants/unmapped')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    // Each by their next interview: 二面 in 2 days (ties by id), then 三面 in 5 days.
    expect(upcoming.body.items.map((i: { platformUserId: string }) => i.platformUserId)).toEqual([
      'admin-1',
      'u-new',
      'u-other',
      'u-li',
    ]);

    // Past interviews count while they are recent, the latest first.
    clock.advance(20 * DAY);
    const res = await http()
      .get('/api/interview-participants/unmapped')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(res.body.truncated).toBe(false);
    expect(
      res.body.items.map((i: { platformUserId: string; wecom: string; interviewCount: number }) => [
        i.platformUserId,
        i.wecom,
        i.interviewCount,
      ]),
    ).toEqual([
      // The recruiter who booked them takes part too (they get the receipts).
      ['admin-1', 'unmapped', 3],
      ['u-new', 'unmapped', 2],
      ['u-li', 'left', 1],
      ['u-other', 'unmapped', 1],
    ]);
    const other = res.body.items.find(
      (i: { platformUserId: string }) => i.platformUserId === 'u-other',
    );
    expect(other).toMatchObject({ interviewId: soon, title: '二面', role: 'interviewer' });

    // Older than the period: gone.
    const lastWeek = await http()
      .get('/api/interview-participants/unmapped?days=7')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(lastWeek.body.items).toEqual([]);
  });

  it('refuses a bad period and interviewers', async () => {
    const bad = await http()
      .get('/api/interview-participants/unmapped?days=0')
      .auth(admin, { type: 'bearer' })
      .expect(400);
    expect(bad.body.errors).toEqual([
      { field: 'days', message: 'days must be an integer between 1 and 365' },
    ]);
    await http()
      .get('/api/interview-participants/unmapped')
      .auth(await tokenFor('u-zhang', 'interviewer'), { type: 'bearer' })
      .expect(403);
  });
});
