import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { ManualClock } from '../src/common/clock.js';
import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import { MessagingService } from '../src/messaging/messaging.service.js';
import { WeComClient } from '../src/wecom/client/wecom.client.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { inOrganization } from './support/in-organization.js';
import { createTestApp, simulatorEnv, textsFor, tokenFor } from './support/test-app.js';
import {
  createTestDatabase,
  describeWithServer,
  type TestDatabase,
} from './support/test-database.js';

// WeCom's limits (30 a minute, 1000 an hour) lowered alike in the simulator and the service, so
// that the hour window fills within a few sends.
const PER_MINUTE = 3;
const PER_HOUR = 5;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = new Date('2026-11-23T10:00:00Z');

interface Instances {
  db: TestDatabase;
  sim: WeComSimulator;
  clock: ManualClock;
  apps: INestApplication[];
}

async function start(count: number): Promise<Instances> {
  const db = await createTestDatabase();
  const clock = new ManualClock(new Date(T0));
  const sim = new WeComSimulator({
    now: () => clock.nowMs(),
    perMemberPerMinute: PER_MINUTE,
    perMemberPerHour: PER_HOUR,
    users: [{ userid: 'busy', name: '忙人' }],
  });
  await sim.start();
  const apps: INestApplication[] = [];
  for (let i = 0; i < count; i++) {
    const app = await createTestApp(
      {
        ...db.env,
        ...simulatorEnv(sim.url),
        DISPATCHER_MEMBER_PER_MINUTE: String(PER_MINUTE),
        DISPATCHER_MEMBER_PER_HOUR: String(PER_HOUR),
      },
      { clock },
    );
    app.get(WeComClient).backoff = { maxRetries: 1, baseDelayMs: 5, maxDelayMs: 10 };
    apps.push(app);
  }
  return { db, sim, clock, apps };
}

async function stop(it: Instances | undefined): Promise<void> {
  for (const app of it?.apps ?? []) await app.close();
  await it?.sim.stop();
  await it?.db.drop();
}

async function queue(app: INestApplication, count: number): Promise<void> {
  const messaging = app.get(MessagingService);
  for (let i = 0; i < count; i++) {
    await inOrganization(() =>
      messaging.send({
        kind: 'test.hourly',
        msgtype: 'text',
        content: { content: `n${i}` },
        to: [{ wecomUserId: 'busy' }],
      }),
    );
  }
}

describe('Per-member pacing over the hour (e2e)', () => {
  let env: Instances;

  beforeAll(async () => {
    env = await start(1);
  });

  afterAll(() => stop(env));

  it('defers a member past their hourly budget to the next window; WeCom drops nothing', async () => {
    const { sim, clock, apps } = env;
    const dispatcher = apps[0].get(MessageDispatcher);
    await queue(apps[0], 10);

    // Minute 0: the minute budget (3); minute 1: the rest of the hour budget (2).
    await dispatcher.drain();
    expect(textsFor(sim, 'busy').sort()).toEqual(['n0', 'n1', 'n2']);
    clock.advance(MINUTE + 1000);
    await dispatcher.drain();
    expect(textsFor(sim, 'busy')).toHaveLength(PER_HOUR);

    // The hour is spent: minute after minute, nothing more goes out.
    for (let i = 0; i < 10; i++) {
      clock.advance(MINUTE + 1000);
      await dispatcher.drain();
    }
    expect(textsFor(sim, 'busy')).toHaveLength(PER_HOUR);

    // The history says when they go: when the first slot of the hour frees up.
    const admin = await tokenFor('admin-1', 'admin');
    const list = await request(apps[0].getHttpServer())
      .get('/api/messages?limit=50')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    const waiting = await Promise.all(
      (list.body.items as { id: string; status: string }[])
        .filter((m) => m.status !== 'sent')
        .map(async (m) => {
          const got = await request(apps[0].getHttpServer())
            .get(`/api/messages/${m.id}`)
            .auth(admin, { type: 'bearer' })
            .expect(200);
          return got.body.recipients[0] as { status: string; notBefore: string };
        }),
    );
    expect(waiting).toHaveLength(5);
    for (const r of waiting) {
      expect(r.status).toBe('rate_limited');
      expect(Date.parse(r.notBefore)).toBe(T0.getTime() + HOUR + 1000);
    }

    // An hour after the first sends their slots are free (3, the minute budget), then the
    // slots of minute 1 (2).
    clock.set(new Date(T0.getTime() + HOUR + 1000));
    await dispatcher.drain();
    expect(textsFor(sim, 'busy')).toHaveLength(8);
    clock.advance(MINUTE + 1000);
    await dispatcher.drain();
    expect(textsFor(sim, 'busy').sort()).toEqual(Array.from({ length: 10 }, (_, i) => `n${i}`));
    expect(sim.stats()).toMatchObject({ delivered: 10, dropped: 0 });
  });
});

describeWithServer('Per-member pacing over the hour, two instances (e2e)', () => {
  let env: Instances;

  beforeAll(async () => {
    env = await start(2);
  });

  afterAll(() => stop(env));

  it('never spends more than the hourly budget between them', async () => {
    const { sim, clock, apps } = env;
    const [a, b] = apps.map((app) => app.get(MessageDispatcher));
    await queue(apps[0], 12);

    for (let minute = 0; minute < 8; minute++) {
      await Promise.all([a.drain(), b.drain()]);
      clock.advance(MINUTE + 1000);
    }
    expect(textsFor(sim, 'busy')).toHaveLength(PER_HOUR);

    clock.set(new Date(T0.getTime() + HOUR + 1000));
    for (let minute = 0; minute < 4; minute++) {
      await Promise.all([a.drain(), b.drain()]);
      clock.advance(MINUTE + 1000);
    }
    expect(textsFor(sim, 'busy')).toHaveLength(10);
    expect(sim.stats()).toMatchObject({ delivered: 10, dropped: 0 });
  });
});
