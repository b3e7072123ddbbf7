import { randomUUID } from 'node:crypto';

import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { ManualClock } from '../../src/common/clock.js';
import { MessageDispatcher } from '../../src/messaging/message-dispatcher.js';
import { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { createTestApp, simulatorEnv, tokenFor } from '../support/test-app.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const HOUR = 3600_000;

describe('Interviewers see only their own interviews (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let recruiter: string;
  /** Interviewer on A, observer on C, not on B. */
  let ana: string;
  /** Interviewer on B and C. */
  let bo: string;
  /** An interviewer on nothing at all. */
  let nobody: string;
  const ids = { A: '', B: '', C: '' };
  const http = () => request(app.getHttpServer());
  const as = (token: string) => ({ authorization: `Bearer ${token}` });

  async function book(title: string, interviewers: string[], observers: string[] = []) {
    const res = await http()
      .post('/api/interviews')
      .set(as(recruiter))
      .send({
        title,
        candidate: { name: '候选人', platformUserId: `cand-${title}` },
        startsAt: new Date(clock.nowMs() + 48 * HOUR).toISOString(),
        durationMinutes: 60,
        roomUrl: `https://www.showmebug.com/pads/${title}`,
        interviewers,
        observers,
      })
      .expect(201);
    return (res.body as { interview: { id: string } }).interview.id;
  }

  /** Every interview id the caller can list, following the cursor one item at a time. */
  async function listAll(token: string, query: Record<string, string> = {}): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await http()
        .get('/api/interviews')
        .query({ ...query, limit: '1', ...(cursor ? { cursor } : {}) })
        .set(as(token))
        .expect(200);
      const page = res.body as { items: { id: string }[]; nextCursor: string | null };
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
    } while (cursor && seen.length < 50);
    return seen.sort();
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T02:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) }, { clock });
    recruiter = await tokenFor('rec-1', 'recruiter');
    ana = await tokenFor('u-ana', 'interviewer');
    bo = await tokenFor('u-bo', 'interviewer');
    nobody = await tokenFor('u-nobody', 'interviewer');
    ids.A = await book('A', ['u-ana', 'u-dan']);
    ids.B = await book('B', ['u-bo']);
    ids.C = await book('C', ['u-bo'], ['u-ana']);
    // Let the booking notifications become message rows with outcomes (nobody is mapped).
    await app.get(MessageDispatcher).drain();
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('gives an interviewer the interviews they are on, as interviewer or observer', async () => {
    for (const id of [ids.A, ids.C]) {
      const res = await http().get(`/api/interviews/${id}`).set(as(ana)).expect(200);
      expect((res.body as { interview: { id: string } }).interview.id).toBe(id);
    }
  });

  it('answers 404 for an interview they are not on, exactly as for one that does not exist', async () => {
    const hidden = await http().get(`/api/interviews/${ids.B}`).set(as(ana)).expect(404);
    const missing = await http().get(`/api/interviews/${randomUUID()}`).set(as(ana)).expect(404);
    const shape = (body: Record<string, unknown>) => ({ ...body, requestId: undefined });
    expect(shape(hidden.body as Record<string, unknown>)).toEqual(
      shape(missing.body as Record<string, unknown>),
    );
    expect(JSON.stringify(hidden.body)).not.toContain('B');
    await http().get(`/api/interviews/${ids.A}`).set(as(bo)).expect(404);
    await http().get(`/api/interviews/${ids.A}`).set(as(nobody)).expect(404);
  });

  it('does not show an interview to its candidate, even one holding the interviewer role', async () => {
    // An employee interviewing for an internal move: they must not see the panel, its answers
    // or the reminders of their own interview.
    const candidate = await tokenFor('cand-B', 'interviewer');
    await http().get(`/api/interviews/${ids.B}`).set(as(candidate)).expect(404);
    expect(await listAll(candidate)).toEqual([]);
    await http()
      .post(`/api/interviews/${ids.B}/rsvp`)
      .set(as(candidate))
      .send({ response: 'accepted' })
      .expect((res) => expect([403, 404]).toContain(res.status));
  });

  it('lists only their own interviews, whatever the filters and on every page', async () => {
    expect(await listAll(ana)).toEqual([ids.A, ids.C].sort());
    expect(await listAll(bo)).toEqual([ids.B, ids.C].sort());
    expect(await listAll(nobody)).toEqual([]);
    // Asking for someone else's interviews does not widen the view.
    expect(await listAll(ana, { participant: 'u-bo' })).toEqual([ids.A, ids.C].sort());
    expect(await listAll(nobody, { participant: 'u-ana', status: 'scheduled' })).toEqual([]);
    // Recruiters see every interview, and can still find one by its candidate.
    expect(await listAll(recruiter)).toEqual([ids.A, ids.B, ids.C].sort());
    expect(await listAll(recruiter, { participant: 'cand-B' })).toEqual([ids.B]);
  });

  it('answers an RSVP to someone else’s interview with 404, not 403', async () => {
    await http()
      .post(`/api/interviews/${ids.B}/rsvp`)
      .set(as(ana))
      .send({ response: 'accepted' })
      .expect(404);
    const own = await http()
      .post(`/api/interviews/${ids.A}/rsvp`)
      .set(as(ana))
      .send({ response: 'accepted' })
      .expect(200);
    expect(own.body).toMatchObject({ platformUserId: 'u-ana', rsvp: 'accepted' });
    const b = await http().get(`/api/interviews/${ids.B}`).set(as(recruiter)).expect(200);
    const participants = (b.body as { participants: { rsvp: string }[] }).participants;
    expect(participants.every((p) => p.rsvp !== 'accepted')).toBe(true);
  });

  it('refuses changes by interviewers with the same 403 whether or not they are on it', async () => {
    for (const id of [ids.A, ids.B, randomUUID()]) {
      await http().patch(`/api/interviews/${id}`).set(as(ana)).send({ title: 'x' }).expect(403);
      await http().post(`/api/interviews/${id}/cancel`).set(as(ana)).send({}).expect(403);
    }
  });

  it('keeps message history from interviewers altogether (403 on every message route)', async () => {
    const messages = await http()
      .get('/api/messages')
      .query({ interviewId: ids.A })
      .set(as(recruiter))
      .expect(200);
    const items = (messages.body as { items: { id: string }[] }).items;
    expect(items.length).toBeGreaterThan(0);
    const aboutA = items[0].id;
    for (const id of [ids.A, ids.B]) {
      await http().get(`/api/interviews/${id}/messages`).set(as(ana)).expect(403);
    }
    await http().get('/api/messages').set(as(ana)).expect(403);
    await http().get('/api/messages').query({ recipient: 'u-ana' }).set(as(ana)).expect(403);
    await http().get(`/api/messages/${aboutA}`).set(as(ana)).expect(403);
    await http().post(`/api/messages/${aboutA}/retry`).set(as(ana)).expect(403);
    await http().post(`/api/messages/${aboutA}/recall`).set(as(ana)).expect(403);
  });

  it('drops an interviewer’s view the moment they are taken off the interview', async () => {
    await http()
      .patch(`/api/interviews/${ids.A}`)
      .set(as(recruiter))
      .send({ interviewers: ['u-dan'] })
      .expect(200);
    await http().get(`/api/interviews/${ids.A}`).set(as(ana)).expect(404);
    expect(await listAll(ana)).toEqual([ids.C]);
    await http()
      .post(`/api/interviews/${ids.A}/rsvp`)
      .set(as(ana))
      .send({ response: 'declined' })
      .expect(404);
  });
});
