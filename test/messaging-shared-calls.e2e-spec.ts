import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { ManualClock } from '../src/common/clock.js';
import { MessageDispatcher } from '../src/messaging/message-dispatcher.js';
import type { MessagingService } from '../src/messaging/messaging.service.js';
import { WeComClient } from '../src/wecom/client/wecom.client.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { inOrganization } from './support/in-organization.js';
import { createTestApp, simulatorEnv, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

/** Messages with the same body, claimed together, share one WeCom call. */
describe('Shared calls (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let dispatcher: MessageDispatcher;
  let messaging: MessagingService;

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T10:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    sim.addUsers(
      ['s1', 's2', 's3', 'r1', 'r2', 'r3', 't1', 't2', 't3'].map((userid) => ({
        userid,
        name: userid,
      })),
    );
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) }, { clock });
    app.get(WeComClient).backoff = { maxRetries: 0, baseDelayMs: 5, maxDelayMs: 10 };
    dispatcher = app.get(MessageDispatcher);
    // Imported once the app is up: loaded first, its imports reach Nest through a CJS package.
    const { MessagingService: Service } = await import('../src/messaging/messaging.service.js');
    messaging = app.get(Service);
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  const sends = () => sim.stats().calls['/cgi-bin/message/send'] ?? 0;
  const card = (tag: string) => ({
    card_type: 'button_interaction',
    main_title: { title: `面试邀请 ${tag}` },
    task_id: `shared-${tag}`,
    button_list: [{ text: '接受', style: 1, key: `rsvp:accept:${tag}` }],
  });

  async function queue(tag: string, to: string[]): Promise<string[]> {
    const ids: string[] = [];
    for (const wecomUserId of to) {
      const m = await inOrganization(() =>
        messaging.send({
          kind: 'test.shared',
          msgtype: 'template_card',
          content: card(tag),
          to: [{ wecomUserId }],
        }),
      );
      ids.push(m.id);
    }
    return ids;
  }

  const statuses = async (ids: string[]) =>
    (
      await db.ownerQuery<{ status: string }>(
        `SELECT status FROM messages WHERE id = ANY($1::uuid[]) ORDER BY id`,
        [ids],
      )
    ).map((r) => r.status);

  it('sends one call for three messages with the same card, and records it on each', async () => {
    const before = sends();
    const ids = await queue('a', ['s1', 's2', 's3']);
    expect(await dispatcher.drain()).toBe(3);
    expect(sends() - before).toBe(1);
    for (const u of ['s1', 's2', 's3']) expect(sim.messagesFor(u)).toHaveLength(1);
    expect(await statuses(ids)).toEqual(['sent', 'sent', 'sent']);
    const attempts: { message_id: string; recipient_count: number; errcode: number }[] =
      await db.ownerQuery(
        `SELECT message_id, recipient_count, errcode FROM message_attempts
          WHERE message_id = ANY($1::uuid[])`,
        [ids],
      );
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((a) => a.message_id)).size).toBe(3);
    for (const a of attempts) expect(a).toMatchObject({ recipient_count: 1, errcode: 0 });
    const msgids: { wecom_msgid: string }[] = await db.ownerQuery(
      `SELECT DISTINCT wecom_msgid FROM message_recipients WHERE message_id = ANY($1::uuid[])`,
      [ids],
    );
    expect(msgids).toHaveLength(1);
  });

  it('recalls one of a shared call only with includeShared, and then marks them all', async () => {
    const ids = await queue('recall', ['t1', 't2', 't3']);
    await dispatcher.drain();
    const admin = await tokenFor('admin-1', 'admin');
    const recall = (query = '') =>
      request(app.getHttpServer())
        .post(`/api/messages/${ids[0]}/recall${query}`)
        .auth(admin, { type: 'bearer' });
    const refused = await recall().expect(409);
    expect(refused.body.sharedWith).toEqual(expect.arrayContaining([ids[1], ids[2]]));
    expect(await statuses(ids)).toEqual(['sent', 'sent', 'sent']);

    const done = await recall('?includeShared=true').expect(200);
    expect(done.body.status).toBe('recalled');
    expect(await statuses(ids)).toEqual(['recalled', 'recalled', 'recalled']);
    expect(sim.messagesFor('t2').at(-1)?.recalled).toBe(true);
  });

  it('resends a shared call whose outcome was lost as the same JSON, even claimed apart', async () => {
    const ids = await queue('b', ['r1', 'r2', 'r3']);
    await dispatcher.drain();
    const delivered = sim.stats().delivered;
    // As if the instance died after the call and before saving: recipients and messages are
    // left `sending` under a lease that has run out; only the first message is due now.
    await db.ownerQuery(
      `UPDATE message_recipients SET status = 'sending', delivered_at = NULL, wecom_msgid = NULL
        WHERE message_id = ANY($1::uuid[])`,
      [ids],
    );
    await db.ownerQuery(
      `UPDATE messages SET status = 'sending', leased_by = 'dead', lease_until = $2::timestamptz,
              next_attempt_at = CASE WHEN id = $3::uuid THEN $2::timestamptz ELSE $4::timestamptz END
        WHERE id = ANY($1::uuid[])`,
      [ids, clock.now(), ids[0], new Date(clock.nowMs() + 3600_000)],
    );
    const suppressed = sim.stats().duplicatesSuppressed;
    expect(await dispatcher.drain()).toBe(1);
    expect(sim.stats().duplicatesSuppressed).toBe(suppressed + 1);
    expect((await statuses([ids[0]]))[0]).toBe('sent');
    expect(await statuses(ids.slice(1))).toEqual(['sending', 'sending']);

    clock.advance(3600_000 + 1000);
    expect(await dispatcher.drain()).toBe(2);
    expect(sim.stats().duplicatesSuppressed).toBe(suppressed + 2);
    expect(sim.stats().delivered).toBe(delivered);
    for (const u of ['r1', 'r2', 'r3']) expect(sim.messagesFor(u)).toHaveLength(1);
    expect(await statuses(ids)).toEqual(['sent', 'sent', 'sent']);
  });

  it('keeps a failed shared call’s recipients to resend them together', async () => {
    sim.addFault({ path: '/cgi-bin/message/send', errcode: -1, times: 1 });
    const ids = await queue('c', ['s1', 'r1']);
    await dispatcher.drain();
    const left: { status: string; send_key: string | null }[] = await db.ownerQuery(
      `SELECT status, send_key FROM message_recipients WHERE message_id = ANY($1::uuid[])`,
      [ids],
    );
    expect(left.map((r) => r.status)).toEqual(['sending', 'sending']);
    expect(new Set(left.map((r) => r.send_key)).size).toBe(1);
    expect(await statuses(ids)).toEqual(['queued', 'queued']);
    clock.advance(10_000);
    const before = sends();
    await dispatcher.drain();
    expect(sends() - before).toBe(1);
    expect(await statuses(ids)).toEqual(['sent', 'sent']);
    expect(sim.messagesFor('s1')).toHaveLength(2); // card a, then card c
    expect(sim.messagesFor('r1')).toHaveLength(2); // card b, then card c
  });
});
