import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { INestApplication } from '@nestjs/common';
import * as wecom from '@wecom/crypto';
import request from 'supertest';

import { ManualClock } from '../src/common/clock.js';
import { OrganizationsService } from '../src/organizations/organizations.service.js';
import { WeComApiError } from '../src/wecom/client/wecom-api.error.js';
import { WeComClient } from '../src/wecom/client/wecom.client.js';
import { WeComCallbackService } from '../src/wecom/callback/wecom-callback.service.js';
import { WeComCardUpdater } from '../src/wecom/callback/wecom-card-updater.js';
import {
  WeComEventHandlers,
  type WeComCallbackEvent,
} from '../src/wecom/callback/wecom-event-handlers.js';
import { WeComSimulator } from '../tools/wecom-simulator/wecom-simulator.js';
import { AccessTokenProvider } from '../src/wecom/token/access-token.provider.js';
import { inOrganization } from './support/in-organization.js';
import { LogRecorder } from './support/log-recorder.js';
import { createTestApp, simulatorEnv, tokenFor } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import {
  signedCallback,
  type SignedCallback as Signed,
} from './support/wecom-callback-envelope.js';

// The sample values of WeCom's own documentation ("回调配置").
const TOKEN = 'QDG6eK';
const AES_KEY = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C';
const OTHER_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const CORP = 'ww-sandbox';

const callbackEnv = { WECOM_CALLBACK_TOKEN: TOKEN, WECOM_CALLBACK_AES_KEY: AES_KEY };

describe('WeCom callback endpoint (e2e)', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let clock: ManualClock;
  let app: INestApplication;
  let received: WeComCallbackEvent[];
  const http = () => request(app.getHttpServer());
  const now = () => Math.floor(clock.nowMs() / 1000);
  const storedCount = async (): Promise<number> => {
    const [row] = await db.ownerQuery('SELECT count(*)::int AS n FROM wecom_events');
    return (row as { n: number }).n;
  };
  const settle = () => app.get(WeComCallbackService).whenIdle();

  /** `inner` as WeCom sends it with this app's keys, or with the ones `opts` changes. */
  function envelope(
    inner: string,
    opts: {
      timestamp?: number;
      nonce?: string;
      corp?: string;
      token?: string;
      key?: string;
      encrypt?: string;
    } = {},
  ): Signed {
    return signedCallback(
      inner,
      { token: opts.token ?? TOKEN, aesKey: opts.key ?? AES_KEY, corpId: opts.corp ?? CORP },
      { ...opts, timestamp: opts.timestamp ?? now(), agentId: '1000002' },
    );
  }

  const post = (signed: Signed, contentType = 'text/xml') =>
    http()
      .post('/wecom/callback')
      .query(signed.query)
      .set('Content-Type', contentType)
      .send(signed.body);

  const cardClick = (eventKey: string, createTime = now(), taskId = 'task-1') =>
    `<xml><ToUserName><![CDATA[${CORP}]]></ToUserName>` +
    `<FromUserName><![CDATA[zhangsan]]></FromUserName>` +
    `<CreateTime>${createTime}</CreateTime>` +
    `<MsgType><![CDATA[event]]></MsgType>` +
    `<Event><![CDATA[template_card_event]]></Event>` +
    `<EventKey><![CDATA[${eventKey}]]></EventKey>` +
    `<TaskId><![CDATA[${taskId}]]></TaskId>` +
    `<CardType><![CDATA[button_interaction]]></CardType>` +
    `<ResponseCode><![CDATA[rc-123]]></ResponseCode>` +
    `<AgentID>1000002</AgentID>` +
    `<SelectedItems></SelectedItems></xml>`;

  beforeAll(async () => {
    db = await createTestDatabase();
    clock = new ManualClock(new Date('2026-11-23T10:00:00Z'));
    sim = new WeComSimulator({ now: () => clock.nowMs() });
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url), ...callbackEnv }, { clock });
    received = [];
    app.get(WeComEventHandlers).register('template_card_event', (event) => {
      received.push(event);
      if (event.eventKey === 'explode') throw new Error('handler exploded');
    });
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  describe('GET: URL verification', () => {
    /** The URL check WeCom sends: `echostr` encrypted and signed like an event. */
    const urlCheck = (echostr: string, timestamp = String(now()), nonce = '263014780') => ({
      msg_signature: wecom.getSignature(TOKEN, timestamp, nonce, echostr),
      timestamp,
      nonce,
      echostr,
    });

    it('answers the decrypted echostr alone, as text/plain', async () => {
      const echostr = wecom.encrypt(AES_KEY, '1616140317555161061', CORP);
      const res = await http()
        .get('/wecom/callback')
        .query(urlCheck(echostr))
        .buffer(true)
        .parse((r, done) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => done(null, Buffer.concat(chunks)));
        })
        .expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect((res.body as Buffer).toString('utf8')).toBe('1616140317555161061');
      expect((res.body as Buffer).length).toBe(19); // no BOM, quotes or newline
    });

    it('accepts a timestamp within 5 minutes either way (clock skew)', async () => {
      const echostr = wecom.encrypt(AES_KEY, '5927410983', CORP);
      for (const skew of [-290, 290]) {
        const res = await http()
          .get('/wecom/callback')
          .query(urlCheck(echostr, String(now() + skew)))
          .expect(200);
        expect(res.text).toBe('5927410983');
      }
    });

    it.each([
      ['6 minutes old', () => now() - 360],
      ['6 minutes ahead', () => now() + 360],
      ["from 2014 (WeCom's own sample)", () => 1409659589],
    ])(
      'refuses a correctly signed check whose timestamp is %s, without decrypting it',
      async (_name, timestamp) => {
        const echostr = wecom.encrypt(AES_KEY, '1616140317555161061', CORP);
        const res = await http()
          .get('/wecom/callback')
          .query(urlCheck(echostr, String(timestamp())))
          .expect(400);
        expect(res.body).toMatchObject({
          status: 400,
          detail: 'Callback timestamp is outside the accepted 5-minute window',
        });
        expect(JSON.stringify(res.body)).not.toContain('1616140317555161061');
      },
    );

    it('is not a decryption oracle: an event Encrypt replayed as echostr is refused, no plaintext', async () => {
      // What an attacker captured from a genuine POST: the Encrypt of a card click.
      const inner = cardClick('poll:accept:oracle-probe');
      const encrypt = wecom.encrypt(AES_KEY, inner, CORP);
      const res = await http().get('/wecom/callback').query(urlCheck(encrypt)).expect(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 400 });
      const body = res.text;
      for (const leaked of [
        'oracle-probe',
        'template_card_event',
        'FromUserName',
        '<xml',
        'CDATA',
      ]) {
        expect(body).not.toContain(leaked);
      }
    });

    it.each([
      ['XML of any kind', '<x/>'],
      ['a long string', '7'.repeat(129)],
      ['JSON', '{"event":"x"}'],
      ['spaces and newlines', '123 456\n'],
    ])('answers only an echostr-like plaintext: refuses %s', async (_name, plaintext) => {
      const res = await http()
        .get('/wecom/callback')
        .query(urlCheck(wecom.encrypt(AES_KEY, plaintext, CORP)))
        .expect(400);
      expect(res.text).not.toContain(plaintext.trim());
    });

    it('refuses a wrong signature with a JSON 403 and no plaintext', async () => {
      const echostr = wecom.encrypt(AES_KEY, 'secret-echo', CORP);
      const res = await http()
        .get('/wecom/callback')
        .query({ ...urlCheck(echostr), msg_signature: 'a'.repeat(40) })
        .expect(403);
      expect(res.body).toMatchObject({
        status: 403,
        detail: 'Callback signature does not match',
      });
      expect(JSON.stringify(res.body)).not.toContain('secret-echo');
    });

    it('refuses an echostr addressed to another corp', async () => {
      const echostr = wecom.encrypt(AES_KEY, '123', 'ww-other');
      await http().get('/wecom/callback').query(urlCheck(echostr)).expect(403);
    });

    it('answers 400 when parameters are missing', async () => {
      await http().get('/wecom/callback').query({ timestamp: '1' }).expect(400);
    });
  });

  describe('POST: events', () => {
    // Another card's buttons: the interviews module's RSVP handler leaves these alone.
    it('stores a card click, answers an empty 200 and hands it to the registered handler', async () => {
      const before = await storedCount();
      const res = await post(envelope(cardClick('poll:accept:iv-42'))).expect(200);
      expect(res.text).toBe('');
      await settle();
      expect(await storedCount()).toBe(before + 1);
      expect(received.at(-1)).toMatchObject({
        fromUser: 'zhangsan',
        eventKey: 'poll:accept:iv-42',
        taskId: 'task-1',
        responseCode: 'rc-123',
        cardType: 'button_interaction',
        agentId: 1000002,
        msgType: 'event',
        event: 'template_card_event',
      });
      const [row] = await db.ownerQuery(
        `SELECT msg_type, event, from_user, agent_id, create_time, body, processed_at, handler_error
           FROM wecom_events WHERE id = $1`,
        [received.at(-1)!.id],
      );
      expect(row).toMatchObject({
        msg_type: 'event',
        event: 'template_card_event',
        from_user: 'zhangsan',
        agent_id: 1000002,
        handler_error: null,
      });
      expect(row.body).toContain('poll:accept:iv-42');
      expect(row.processed_at).not.toBeNull();
    });

    it('acknowledges a retry (same event, re-signed) without processing it again', async () => {
      const inner = cardClick('poll:decline:iv-7', now() - 2);
      await post(envelope(inner)).expect(200);
      await settle();
      const count = await storedCount();
      const calls = received.length;
      // WeCom's retries carry a new nonce and timestamp around the same event.
      clock.advance(5_000);
      await post(envelope(inner)).expect(200);
      const same = envelope(inner);
      await post(same).expect(200);
      await post(same).expect(200); // a literal replay of the request
      await settle();
      expect(await storedCount()).toBe(count);
      expect(received.length).toBe(calls);
    });

    it('deduplicates messages by MsgId', async () => {
      const text = (content: string) =>
        `<xml><ToUserName><![CDATA[${CORP}]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>` +
        `<CreateTime>${now()}</CreateTime><MsgType><![CDATA[text]]></MsgType>` +
        `<Content><![CDATA[${content}]]></Content><MsgId>1234567890123456</MsgId><AgentID>1000002</AgentID></xml>`;
      const before = await storedCount();
      await post(envelope(text('你好'))).expect(200);
      await post(envelope(text('你好'))).expect(200);
      expect(await storedCount()).toBe(before + 1);
    });

    it('records a handler failure on the event and still answers 200', async () => {
      await post(envelope(cardClick('explode'))).expect(200);
      await settle();
      const [row] = await db.ownerQuery(
        `SELECT handler_error FROM wecom_events WHERE body LIKE '%explode%'`,
      );
      expect(row.handler_error).toContain('handler exploded');
    });

    it('accepts an event stored but never dispatched when the sweep runs', async () => {
      const inner = cardClick('poll:accept:iv-sweep');
      await post(envelope(inner)).expect(200);
      await settle();
      const calls = received.length;
      await db.ownerQuery(
        `UPDATE wecom_events SET processed_at = NULL WHERE body LIKE '%iv-sweep%'`,
      );
      const callbacks = app.get(WeComCallbackService);
      expect(await callbacks.dispatchPending()).toBe(0); // too recent: maybe still in flight
      clock.advance(61_000);
      expect(await callbacks.dispatchPending()).toBe(1);
      expect(await callbacks.dispatchPending()).toBe(0);
      expect(received.length).toBe(calls + 1);
      expect(received.at(-1)?.eventKey).toBe('poll:accept:iv-sweep');
    });

    describe('refuses tampering with a 4xx JSON error and stores nothing', () => {
      const inner = () => cardClick('poll:accept:tampered');
      // Decrypting with the wrong key ends at the padding (400) or, rarely, the receiver check (403).
      const cases: [string, () => Signed, number | number[]][] = [
        [
          'a wrong signature',
          () => ({
            ...envelope(inner()),
            query: { ...envelope(inner()).query, msg_signature: '0'.repeat(40) },
          }),
          403,
        ],
        ['a signature made with another token', () => envelope(inner(), { token: 'other' }), 403],
        [
          'a stale timestamp (6 minutes old)',
          () => envelope(inner(), { timestamp: now() - 360 }),
          400,
        ],
        ['a timestamp from the future', () => envelope(inner(), { timestamp: now() + 360 }), 400],
        ['another receiveid', () => envelope(inner(), { corp: 'ww-other' }), 403],
        ['another AES key', () => envelope(inner(), { key: OTHER_KEY }), [400, 403]],
        ['malformed base64', () => envelope(inner(), { encrypt: 'not*base64!' }), 400],
        ['base64 that is not whole AES blocks', () => envelope(inner(), { encrypt: 'QUJD' }), 400],
        [
          'malformed XML',
          () => {
            const signed = envelope(inner());
            return { ...signed, body: signed.body.replace('</xml>', '') };
          },
          400,
        ],
        [
          'a DOCTYPE with entities',
          () => {
            const signed = envelope(inner());
            return {
              ...signed,
              body: `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x "boom">]>${signed.body}`,
            };
          },
          400,
        ],
        [
          'an inner DOCTYPE (signed and encrypted)',
          () => envelope(`<!DOCTYPE xml [<!ENTITY x "y">]>${inner()}`),
          400,
        ],
        [
          'an inner body without FromUserName',
          () =>
            envelope(
              `<xml><MsgType>event</MsgType><Event>x</Event><CreateTime>1</CreateTime></xml>`,
            ),
          400,
        ],
        [
          'an oversized body',
          () => {
            const signed = envelope(inner());
            return {
              ...signed,
              body: signed.body.replace('</xml>', `<Pad>${'a'.repeat(70_000)}</Pad></xml>`),
            };
          },
          413,
        ],
        ['missing query parameters', () => ({ ...envelope(inner()), query: {} }), 400],
      ];

      it.each(cases)('%s', async (_label, make, status) => {
        const before = await storedCount();
        const calls = received.length;
        const res = await post(make());
        expect([status].flat()).toContain(res.status);
        expect(res.body).toMatchObject({ status: res.status });
        expect(typeof res.body.requestId).toBe('string');
        expect(JSON.stringify(res.body)).not.toContain(AES_KEY);
        await settle();
        expect(await storedCount()).toBe(before);
        expect(received.length).toBe(calls);
      });

      it('a JSON body', async () => {
        const before = await storedCount();
        await http()
          .post('/wecom/callback')
          .query(envelope(inner()).query)
          .send({ xml: 'no' })
          .expect(415);
        expect(await storedCount()).toBe(before);
      });
    });
  });

  describe('the URL names the organisation', () => {
    const DEFAULT_ID = '00000000-0000-0000-0000-000000000001';
    const postTo = (path: string, signed: Signed) =>
      http().post(path).query(signed.query).set('Content-Type', 'text/xml').send(signed.body);
    const setDefaultStatus = async (status: 'active' | 'suspended') => {
      await db.ownerQuery(`UPDATE organizations SET status = $1 WHERE id = $2`, [
        status,
        DEFAULT_ID,
      ]);
      app.get(OrganizationsService).forget();
    };

    it('/wecom/callback/default is the bare URL: same keys, same rows', async () => {
      const echostr = wecom.encrypt(AES_KEY, '5927410983', CORP);
      const timestamp = String(now());
      const res = await http()
        .get('/wecom/callback/default')
        .query({
          msg_signature: wecom.getSignature(TOKEN, timestamp, 'n1', echostr),
          timestamp,
          nonce: 'n1',
          echostr,
        })
        .expect(200);
      expect(res.text).toBe('5927410983');

      const before = await storedCount();
      const calls = received.length;
      await postTo('/wecom/callback/default', envelope(cardClick('poll:accept:by-slug'))).expect(
        200,
      );
      await settle();
      expect(await storedCount()).toBe(before + 1);
      expect(received.length).toBe(calls + 1);
      expect(received.at(-1)?.eventKey).toBe('poll:accept:by-slug');
    });

    it.each([
      ['an unknown slug', 'nobody'],
      ["the organisation's id instead of its slug", DEFAULT_ID],
      ['upper case', 'DEFAULT'],
      ['one character', 'd'],
      ['a leading dash', '-default'],
      ['64 characters', 'a'.repeat(64)],
      ['encoded dots', '%2e%2e'],
    ])('%s: a 404 problem, nothing stored, nothing handled', async (_label, slug) => {
      const before = await storedCount();
      const calls = received.length;
      // Signed with the right keys: the URL alone decides.
      const res = await postTo(`/wecom/callback/${slug}`, envelope(cardClick(`k:${slug}`)));
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 404 });
      const check = await http()
        .get(`/wecom/callback/${slug}`)
        .query({ msg_signature: 'x', timestamp: String(now()), nonce: 'n', echostr: 'e' });
      expect(check.status).toBe(404);
      await settle();
      expect(await storedCount()).toBe(before);
      expect(received.length).toBe(calls);
    });

    it("a suspended organisation's events are stored and acknowledged, and handled once it is resumed", async () => {
      const callbacks = app.get(WeComCallbackService);
      await setDefaultStatus('suspended');
      try {
        const before = await storedCount();
        const calls = received.length;
        await post(envelope(cardClick('poll:accept:while-suspended'))).expect(200);
        await settle();
        expect(await storedCount()).toBe(before + 1);
        expect(received.length).toBe(calls);
        clock.advance(61_000);
        expect(await callbacks.dispatchPending()).toBe(0); // the sweep serves active ones only
        expect(received.length).toBe(calls);

        // The operator resumes it: what waited is handled at once, not at the next sweep.
        await http()
          .patch(`/api/organizations/${DEFAULT_ID}`)
          .auth(await tokenFor('op-1', 'operator'), { type: 'bearer' })
          .send({ status: 'active' })
          .expect(200);
        await settle();
        expect(received.length).toBe(calls + 1);
        expect(received.at(-1)?.eventKey).toBe('poll:accept:while-suspended');
        expect(await callbacks.dispatchPending()).toBe(0); // nothing left for the sweep
      } finally {
        await setDefaultStatus('active');
      }
    });
  });

  describe('an oversized POST', () => {
    const FIVE_MB = 5 * 1024 * 1024;
    const TOO_LARGE = {
      type: 'about:blank',
      title: 'Content Too Large',
      status: 413,
      detail: 'Request body is too large',
    };

    it('a 5 MB body gets a clean 413, as /api gives it, and nothing is stored', async () => {
      const before = await storedCount();
      const signed = envelope(cardClick('poll:accept:huge'));
      const body = signed.body.replace('</xml>', `<Pad>${'a'.repeat(FIVE_MB)}</Pad></xml>`);
      // A reset connection would reject here (ECONNRESET / EPIPE) instead of answering.
      const res = await http()
        .post('/wecom/callback')
        .query(signed.query)
        .set('Content-Type', 'text/xml')
        .set('x-request-id', 'huge-callback')
        .send(body);
      expect(res.status).toBe(413);
      expect(res.body).toEqual({ ...TOO_LARGE, requestId: 'huge-callback' });

      const api = await http()
        .post('/api/messages')
        .set('Content-Type', 'application/json')
        .set('x-request-id', 'huge-api')
        .send(JSON.stringify({ pad: 'a'.repeat(FIVE_MB) }));
      expect(api.status).toBe(413);
      expect(api.body).toEqual({ ...TOO_LARGE, requestId: 'huge-api' });

      await settle();
      expect(await storedCount()).toBe(before);
    });

    it('a 5 MB body sent in chunks, without a length, gets the same 413', async () => {
      const server = app.getHttpServer() as Server;
      if (!server.listening) await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const { port } = server.address() as AddressInfo;
      const signed = envelope(cardClick('poll:accept:chunked'));
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          {
            port,
            host: '127.0.0.1',
            method: 'POST',
            path: `/wecom/callback?${new URLSearchParams(signed.query)}`,
            headers: { 'content-type': 'text/xml', 'transfer-encoding': 'chunked' },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode!, body: text }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        const chunk = Buffer.alloc(64 * 1024, 'a');
        for (let sent = 0; sent < FIVE_MB; sent += chunk.length) req.write(chunk);
        req.end();
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject(TOO_LARGE);
    });
  });

  describe(WeComCardUpdater.name, () => {
    // The default organisation's app, as its card handlers run it.
    it('replaces the buttons of a card WeCom gave a response code for, once', () =>
      inOrganization(async () => {
        const client = app.get(WeComClient);
        const sent = await client.sendMessage({
          touser: 'zhangsan',
          msgtype: 'template_card',
          agentid: 1000002,
          template_card: {
            card_type: 'button_interaction',
            main_title: { title: '面试邀请', desc: '请确认是否参加' },
            button_list: [
              { text: '接受', style: 1, key: 'rsvp:accept:iv-1' },
              { text: '拒绝', style: 2, key: 'rsvp:decline:iv-1' },
            ],
            task_id: `rsvp-iv-1-${Date.now()}`,
          },
        });
        expect(sent.response_code).toBeTruthy();
        const sut = app.get(WeComCardUpdater);

        await expect(
          sut.markAnswered(sent.response_code!, ['zhangsan'], '已接受'),
        ).resolves.toEqual([]);
        const update = sim.messagesFor('zhangsan').at(-1);
        expect(update).toMatchObject({
          msgtype: 'update_template_card',
          body: {
            response_code: sent.response_code,
            button: { replace_name: '已接受' },
            agentid: 1000002,
          },
        });

        const again = await sut
          .markAnswered(sent.response_code!, ['zhangsan'], '已接受')
          .catch((e: unknown) => e);
        expect(again).toBeInstanceOf(WeComApiError);
      }));
  });
});

describe('WeCom callback endpoint without configuration', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  const logs = new LogRecorder();

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = new WeComSimulator();
    await sim.start();
    app = await createTestApp({ ...db.env, ...simulatorEnv(sim.url) }, { logger: logs });
    // Let the start-up token load finish before the app closes.
    await inOrganization(() => app.get(AccessTokenProvider).getToken());
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  it('answers 503 "not configured" to the URL check and to events', async () => {
    const res = await request(app.getHttpServer())
      .get('/wecom/callback')
      .query({ msg_signature: 'x', timestamp: '1', nonce: 'n', echostr: 'e' })
      .expect(503);
    expect(res.body.detail).toBe('WeCom callback is not configured');
    await request(app.getHttpServer())
      .post('/wecom/callback')
      .set('Content-Type', 'text/xml')
      .send('<xml/>')
      .expect(503);
    // Expected, and the operator can act on it: a warning each, no ERROR, no stack trace.
    expect(logs.lines('error')).toEqual([]);
    const warned = logs.take('warn', /callback is not configured/);
    expect(warned.map((e) => e.message)).toEqual([
      'GET /wecom/callback failed: WeCom callback is not configured (503)',
      'POST /wecom/callback failed: WeCom callback is not configured (503)',
    ]);
    expect(warned.filter((e) => e.stack)).toEqual([]);
  });
});
