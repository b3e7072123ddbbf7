import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { parseCallbackXml } from '../../src/wecom/callback/callback-xml.js';
import { WeComCallbackCrypto } from '../../src/wecom/callback/wecom-callback-crypto.js';
import { UnknownCorpError, WeComSimulator, CorpConflictError } from './wecom-simulator.js';

type Json = Record<string, any>;

const START = Date.parse('2024-05-01T02:00:00.000Z');
const SANDBOX = { corpId: 'ww-sandbox', corpSecret: 'sandbox-secret', agentId: 1000002 };
const B = { corpId: 'ww-corp-b', corpSecret: 'b-secret-0123456789', agentId: 2000001 };
/** Both corps have a zhangsan, as two companies may; B's is someone else. */
const B_MEMBERS = [
  { userid: 'zhangsan', name: '张三(B)', mobile: '13900000001', email: 'zs@b.example' },
  { userid: 'b-only', name: 'Only In B', mobile: '13900000002' },
];
const TOKEN_A = 'TokenA1';
const KEY_A = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C';
const TOKEN_B = 'TokenB2';
const KEY_B = 'kXnZn8rs6oNpBVxaSkHuCynA4LB2ulBk4zllS7r3C3D';

/** A callback endpoint that keeps what arrives; each spec decrypts with the keys it expects. */
class Receiver {
  readonly received: { query: URLSearchParams; envelope: Record<string, string> }[] = [];
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.received.push({
          query: new URL(req.url ?? '/', 'http://x').searchParams,
          envelope: parseCallbackXml(Buffer.concat(chunks).toString('utf8')),
        });
        res.writeHead(200).end('');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/wecom/callback`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** The i-th push opened as WeComCallbackService opens it: signature, AES, receiveid. */
  open(i: number, crypto: WeComCallbackCrypto): Record<string, string> {
    const { query, envelope } = this.received[i]!;
    return parseCallbackXml(
      crypto.decryptRequest({
        msgSignature: query.get('msg_signature') ?? '',
        timestamp: query.get('timestamp') ?? '',
        nonce: query.get('nonce') ?? '',
        encrypt: envelope.Encrypt ?? '',
      }),
    );
  }
}

describe('WeComSimulator with several corps', () => {
  let nowMs = START;
  const sut = new WeComSimulator({ now: () => nowMs, callbackTimeoutMs: 500 });

  beforeAll(async () => {
    await sut.start();
  });

  afterAll(async () => {
    await sut.stop();
  });

  beforeEach(() => {
    nowMs = START;
    sut.reset();
  });

  async function call(path: string, init?: RequestInit): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${sut.url}${path}`, init);
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
  }
  const get = (path: string) => call(path);
  const post = (path: string, body?: unknown) =>
    call(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  const addB = (extra: Json = {}) =>
    post('/__simulator/corps', { ...B, members: B_MEMBERS, ...extra });

  async function tokenOf(corp: { corpId: string; corpSecret: string }): Promise<string> {
    const { body } = await get(
      `/cgi-bin/gettoken?corpid=${corp.corpId}&corpsecret=${corp.corpSecret}`,
    );
    expect(body.errcode).toBe(0);
    return body.access_token as string;
  }

  const text = (touser: string, agentid: number, content = 'hello') => ({
    touser,
    agentid,
    msgtype: 'text',
    text: { content },
  });
  const send = (token: string, message: Json) =>
    post(`/cgi-bin/message/send?access_token=${token}`, message).then((r) => r.body);
  const userGet = (token: string, userid: string) =>
    get(`/cgi-bin/user/get?access_token=${token}&userid=${userid}`).then((r) => r.body);

  describe('POST /__simulator/corps', () => {
    it('creates a corp (201) and lists it after the sandbox corp, never with its secret', async () => {
      const created = await addB({
        callback: { url: 'http://127.0.0.1:9/cb', token: TOKEN_B, encodingAesKey: KEY_B },
      });

      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        corpId: B.corpId,
        agentId: B.agentId,
        members: 2,
        callback: { url: 'http://127.0.0.1:9/cb', configured: true },
      });
      const listed = await get('/__simulator/corps');
      expect(listed.status).toBe(200);
      expect(listed.body).toEqual([
        {
          corpId: SANDBOX.corpId,
          agentId: SANDBOX.agentId,
          members: 5,
          callback: { url: null, configured: false },
        },
        created.body,
      ]);
      for (const body of [created.body, listed.body]) {
        const shown = JSON.stringify(body);
        for (const secret of [B.corpSecret, SANDBOX.corpSecret, TOKEN_B, KEY_B]) {
          expect(shown).not.toContain(secret);
        }
      }
    });

    it('answers 409 for a corpId that exists, the sandbox corp included, and keeps the first', async () => {
      expect((await addB()).status).toBe(201);

      const again = await post('/__simulator/corps', { ...B, corpSecret: 'other-secret' });
      const sandbox = await post('/__simulator/corps', { ...SANDBOX, corpSecret: 'x' });

      expect(again.status).toBe(409);
      expect(again.body.message).toMatch(/ww-corp-b exists/);
      expect(sandbox.status).toBe(409);
      // The first B still answers to its own secret, and the sandbox to its own.
      expect(await tokenOf(B)).toEqual(expect.any(String));
      expect(await tokenOf(SANDBOX)).toEqual(expect.any(String));
    });

    it.each<[string, unknown, RegExp]>([
      ['an array', [B], /JSON object/],
      ['no corpId', { corpSecret: 's', agentId: 1 }, /corpId/],
      ['a corpId with a slash', { ...B, corpId: 'ww/../x' }, /corpId/],
      ['an empty secret', { ...B, corpSecret: '' }, /corpSecret/],
      ['a secret with a space', { ...B, corpSecret: 'a b' }, /corpSecret/],
      ['agentId 0', { ...B, agentId: 0 }, /agentId/],
      ['a string agentId', { ...B, agentId: '2000001' }, /agentId/],
      ['an unknown field', { ...B, tokenTtl: 5 }, /unknown field\(s\): tokenTtl/],
      [
        'members not an array',
        { ...B, members: { userid: 'a' } },
        /members: expected a JSON array/,
      ],
      [
        'a member without a name',
        { ...B, members: [{ userid: 'a' }] },
        /members\[0\]|users\[0\]\.name/,
      ],
      [
        'a callback without https URL',
        { ...B, callback: { url: 'ftp://x', token: 'T', encodingAesKey: KEY_B } },
        /callback url/,
      ],
      [
        'a short aes key',
        { ...B, callback: { url: 'http://x/', token: 'T', encodingAesKey: 'short' } },
        /aesKey/,
      ],
      [
        'a callback with aesKey instead',
        { ...B, callback: { url: 'http://x/', token: 'T', aesKey: KEY_B } },
        /callback: unknown field/,
      ],
    ])('answers 400 with a reason for %s, and adds nothing', async (_name, body, message) => {
      const res = await post('/__simulator/corps', body);

      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(message);
      expect(JSON.stringify(res.body)).not.toContain(B.corpSecret);
      expect((await get('/__simulator/corps')).body).toHaveLength(1);
    });

    it('answers 400 for a body that is not JSON', async () => {
      const res = await call('/__simulator/corps', { method: 'POST', body: '{"corpId":' });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/valid JSON/);
    });

    it('answers 404 for a control call naming a corp that does not exist', async () => {
      const res = await get('/__simulator/messages?touser=zhangsan&corpId=ww-nobody');
      expect(res.status).toBe(404);
      expect(res.body.message).toMatch(/unknown corpId: ww-nobody/);
      expect((await post('/__simulator/tokens/revoke?corpId=ww-nobody')).status).toBe(404);
      expect((await post('/__simulator/callback', { corpId: 'ww-nobody' })).status).toBe(404);
    });

    it('answers 400 when the query and the body name different corps', async () => {
      await addB();
      const res = await post(`/__simulator/oauth/codes?corpId=${B.corpId}`, {
        userid: 'zhangsan',
        corpId: SANDBOX.corpId,
      });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/differ/);
    });
  });

  describe('access tokens', () => {
    beforeEach(async () => {
      expect((await addB()).status).toBe(201);
    });

    it("issues a token only for a corp's own id and secret", async () => {
      const crossed = await get(
        `/cgi-bin/gettoken?corpid=${B.corpId}&corpsecret=${SANDBOX.corpSecret}`,
      );
      const other = await get(
        `/cgi-bin/gettoken?corpid=${SANDBOX.corpId}&corpsecret=${B.corpSecret}`,
      );

      expect(crossed.body.errcode).toBe(40001);
      expect(other.body.errcode).toBe(40001);
      const a = await tokenOf(SANDBOX);
      const b = await tokenOf(B);
      expect(a).not.toBe(b);
      expect(sut.corp(B.corpId).issuedCredentials().accessTokens).toEqual([b]);
      expect(sut.issuedCredentials().accessTokens).toEqual([a]);
    });

    it("acts only on its own corp: A's token never reads or reaches B's members", async () => {
      const a = await tokenOf(SANDBOX);
      const b = await tokenOf(B);

      // b-only exists in B alone: A's token cannot see it, send to it or find it by mobile.
      expect((await userGet(a, 'b-only')).errcode).toBe(60111);
      expect((await userGet(b, 'b-only')).errcode).toBe(0);
      const sent = await send(a, text('b-only', SANDBOX.agentId));
      expect(sent).toMatchObject({ errcode: 81013, invaliduser: 'b-only' });
      expect(sut.corp(B.corpId).messagesFor('b-only')).toEqual([]);
      const byMobile = (token: string) =>
        post(`/cgi-bin/user/getuserid?access_token=${token}`, { mobile: '13900000002' }).then(
          (r) => r.body,
        );
      expect((await byMobile(a)).errcode).toBe(46004);
      expect(await byMobile(b)).toMatchObject({ errcode: 0, userid: 'b-only' });

      // A's token with B's agent id is a mismatch, not a way into B.
      expect((await send(a, text('zhangsan', B.agentId))).errcode).toBe(301002);
      expect(sut.corp(B.corpId).stats().delivered).toBe(0);
    });

    it("revoking one corp's tokens leaves the other's valid", async () => {
      const a = await tokenOf(SANDBOX);
      const b = await tokenOf(B);

      expect((await post(`/__simulator/tokens/revoke?corpId=${B.corpId}`)).status).toBe(200);

      expect((await userGet(b, 'zhangsan')).errcode).toBe(40014);
      expect((await userGet(a, 'zhangsan')).errcode).toBe(0);
      sut.revokeTokens(); // the sandbox corp's, as before
      expect((await userGet(a, 'zhangsan')).errcode).toBe(40014);
      const b2 = await tokenOf(B);
      expect((await userGet(b2, 'zhangsan')).errcode).toBe(0);
    });

    it('keeps a token mode and a secret per corp', async () => {
      const mode = await post('/__simulator/tokens/mode', { mode: 'fresh', corpId: B.corpId });
      expect(mode.body).toEqual({ mode: 'fresh' });
      expect((await get(`/__simulator/tokens/mode?corpId=${B.corpId}`)).body).toEqual({
        mode: 'fresh',
      });
      expect((await get('/__simulator/tokens/mode')).body).toEqual({ mode: 'reuse' });
      expect(await tokenOf(B)).not.toBe(await tokenOf(B));
      expect(await tokenOf(SANDBOX)).toBe(await tokenOf(SANDBOX));

      sut.corp(B.corpId).setCorpSecret('b-rotated');
      expect(
        (await get(`/cgi-bin/gettoken?corpid=${B.corpId}&corpsecret=${B.corpSecret}`)).body.errcode,
      ).toBe(40001);
      expect(await tokenOf(SANDBOX)).toEqual(expect.any(String));
    });

    it('issues JS-SDK tickets to the corp of the token', async () => {
      const b = await tokenOf(B);
      const { body } = await get(`/cgi-bin/get_jsapi_ticket?access_token=${b}`);
      expect(body.errcode).toBe(0);
      expect(sut.corp(B.corpId).issuedCredentials().jsapiTickets).toEqual([body.ticket]);
      expect(sut.issuedCredentials().jsapiTickets).toEqual([]);
    });

    it('applies a fault with a corpId to that corp only; one without to every corp', async () => {
      const a = await tokenOf(SANDBOX);
      const b = await tokenOf(B);
      const added = await post(`/__simulator/faults?corpId=${B.corpId}`, {
        path: '/cgi-bin/user/get',
        errcode: 45009,
      });
      expect(added.body).toMatchObject({ corpId: B.corpId, errcode: 45009 });

      expect((await userGet(b, 'zhangsan')).errcode).toBe(45009);
      expect((await userGet(a, 'zhangsan')).errcode).toBe(0);
      expect(
        (
          await post('/__simulator/faults', {
            path: '/cgi-bin/user/get',
            errcode: 45009,
            corpId: 'ww-nobody',
          })
        ).status,
      ).toBe(404);

      sut.clearFaults();
      sut.addFault({ path: '/cgi-bin/user/get', errcode: -1, times: 2 });
      expect((await userGet(a, 'zhangsan')).errcode).toBe(-1);
      expect((await userGet(b, 'zhangsan')).errcode).toBe(-1);
      expect((await userGet(b, 'zhangsan')).errcode).toBe(0);
    });
  });

  describe('members', () => {
    beforeEach(async () => {
      expect((await addB()).status).toBe(201);
    });

    it('keeps the same userid in two corps as two people', async () => {
      const a = await tokenOf(SANDBOX);
      const b = await tokenOf(B);

      expect(await userGet(a, 'zhangsan')).toMatchObject({ errcode: 0, name: '张三' });
      expect(await userGet(b, 'zhangsan')).toMatchObject({ errcode: 0, name: '张三(B)' });

      const deleted = await post(`/__simulator/users/zhangsan/delete?corpId=${B.corpId}`);
      expect(deleted.status).toBe(200);
      expect((await userGet(b, 'zhangsan')).errcode).toBe(60111);
      expect((await userGet(a, 'zhangsan')).errcode).toBe(0);

      const status = await post('/__simulator/users/b-only/status', {
        status: 2,
        corpId: B.corpId,
      });
      expect(status.status).toBe(200);
      expect((await post('/__simulator/users/b-only/status', { status: 2 })).status).toBe(404);
    });

    it('adds members to the corp named, not to the sandbox corp', async () => {
      const added = await post(`/__simulator/users?corpId=${B.corpId}`, [
        { userid: 'newbie', name: 'New In B' },
      ]);
      expect(added.body).toEqual({ added: 1 });

      expect((await userGet(await tokenOf(B), 'newbie')).errcode).toBe(0);
      expect((await userGet(await tokenOf(SANDBOX), 'newbie')).errcode).toBe(60111);
    });

    it('redeems an OAuth code only with a token of the corp that issued it', async () => {
      const a = await tokenOf(SANDBOX);
      const b = await tokenOf(B);
      const userinfo = (token: string, code: string) =>
        get(`/cgi-bin/auth/getuserinfo?access_token=${token}&code=${code}`).then((r) => r.body);

      const codeB = (await post('/__simulator/oauth/codes', { userid: 'b-only', corpId: B.corpId }))
        .body.code as string;
      expect((await userinfo(a, codeB)).errcode).toBe(40029);

      const codeB2 = sut.corp(B.corpId).issueOAuthCode('zhangsan');
      expect(await userinfo(b, codeB2)).toMatchObject({ errcode: 0, userid: 'zhangsan' });
      // b-only is not a member of the sandbox corp: no code there.
      expect((await post('/__simulator/oauth/codes', { userid: 'b-only' })).status).toBe(400);
    });
  });

  describe('messages and limits', () => {
    beforeEach(async () => {
      expect((await addB()).status).toBe(201);
    });

    it('lists messages per corp and counts stats per corp and in total', async () => {
      const a = await tokenOf(SANDBOX);
      const b = await tokenOf(B);
      expect((await send(a, text('zhangsan', SANDBOX.agentId, 'for A'))).errcode).toBe(0);
      expect((await send(b, text('zhangsan', B.agentId, 'for B'))).errcode).toBe(0);
      expect((await send(b, text('b-only', B.agentId, 'for B too'))).errcode).toBe(0);

      const inB = await get(`/__simulator/messages?touser=zhangsan&corpId=${B.corpId}`);
      const inA = await get('/__simulator/messages?touser=zhangsan');
      expect(inB.body.map((m: Json) => m.body.text.content)).toEqual(['for B']);
      expect(inA.body.map((m: Json) => m.body.text.content)).toEqual(['for A']);
      expect(sut.corp(B.corpId).messagesFor('zhangsan')).toEqual(inB.body);

      const statsB = (await get(`/__simulator/stats?corpId=${B.corpId}`)).body;
      expect(statsB).toMatchObject({
        calls: { '/cgi-bin/gettoken': 1, '/cgi-bin/message/send': 2 },
        delivered: 2,
      });
      expect(sut.corp().stats()).toMatchObject({
        calls: { '/cgi-bin/gettoken': 1, '/cgi-bin/message/send': 1 },
        delivered: 1,
      });
      expect((await get('/__simulator/stats')).body).toMatchObject({
        calls: { '/cgi-bin/gettoken': 2, '/cgi-bin/message/send': 3 },
        delivered: 3,
      });
    });

    it("limits each corp's members on their own: A's full minute does not limit B", async () => {
      const a = await tokenOf(SANDBOX);
      const b = await tokenOf(B);
      for (let i = 0; i < 31; i++) {
        expect((await send(a, text('zhangsan', SANDBOX.agentId, `a${i}`))).errcode).toBe(0);
      }
      expect(sut.corp().stats()).toMatchObject({ delivered: 30, dropped: 1 });

      for (let i = 0; i < 30; i++) {
        expect((await send(b, text('zhangsan', B.agentId, `b${i}`))).errcode).toBe(0);
      }

      expect(sut.corp(B.corpId).stats()).toMatchObject({ delivered: 30, dropped: 0 });
      expect(sut.corp(B.corpId).messagesFor('zhangsan')).toHaveLength(30);
      expect(sut.messagesFor('zhangsan')).toHaveLength(30);
    });

    it('suppresses duplicates and refuses reused task ids per corp only', async () => {
      const a = await tokenOf(SANDBOX);
      const b = await tokenOf(B);
      const card = (agentid: number) => ({
        touser: 'zhangsan',
        agentid,
        msgtype: 'template_card',
        template_card: {
          card_type: 'button_interaction',
          main_title: { title: 'Interview' },
          button_list: [{ text: 'OK', key: 'ok' }],
          task_id: 'task-1',
        },
      });
      expect((await send(a, card(SANDBOX.agentId))).errcode).toBe(0);
      expect((await send(b, card(B.agentId))).errcode).toBe(0);
      expect((await send(b, card(B.agentId))).errcode).toBe(40058);
    });
  });

  describe('callbacks', () => {
    const receiverA = new Receiver();
    const receiverB = new Receiver();
    const cryptoA = new WeComCallbackCrypto(TOKEN_A, KEY_A, SANDBOX.corpId);
    const cryptoB = new WeComCallbackCrypto(TOKEN_B, KEY_B, B.corpId);

    beforeAll(async () => {
      await receiverA.start();
      await receiverB.start();
    });

    afterAll(async () => {
      await receiverA.stop();
      await receiverB.stop();
    });

    beforeEach(async () => {
      receiverA.received.length = 0;
      receiverB.received.length = 0;
      sut.setCallback({ url: receiverA.url, token: TOKEN_A, encodingAesKey: KEY_A });
      const created = await addB({
        callback: { url: receiverB.url, token: TOKEN_B, encodingAesKey: KEY_B },
      });
      expect(created.status).toBe(201);
    });

    afterEach(() => {
      sut.setCallback(null);
    });

    it("pushes a corp's card taps to its own URL, signed and encrypted with its own keys", async () => {
      const b = await tokenOf(B);
      const sent = await send(b, {
        touser: 'zhangsan',
        agentid: B.agentId,
        msgtype: 'template_card',
        template_card: {
          card_type: 'button_interaction',
          main_title: { title: 'Interview' },
          button_list: [{ text: 'Accept', key: 'accept' }],
          task_id: 'task-b',
        },
      });
      expect(sent.errcode).toBe(0);
      // The sandbox corp's zhangsan never got that card.
      expect(
        (
          await post('/__simulator/cards/click', {
            userid: 'zhangsan',
            msgid: sent.msgid,
            key: 'accept',
          })
        ).status,
      ).toBe(404);

      const click = await post('/__simulator/cards/click', {
        userid: 'zhangsan',
        msgid: sent.msgid,
        key: 'accept',
        corpId: B.corpId,
      });

      expect(click.body.delivery).toMatchObject({ delivered: true });
      expect(receiverA.received).toHaveLength(0);
      expect(receiverB.received).toHaveLength(1);
      expect(receiverB.received[0]!.envelope).toMatchObject({
        ToUserName: B.corpId,
        AgentID: String(B.agentId),
      });
      expect(receiverB.open(0, cryptoB)).toMatchObject({
        ToUserName: B.corpId,
        FromUserName: 'zhangsan',
        Event: 'template_card_event',
        EventKey: 'accept',
        TaskId: 'task-b',
        AgentID: String(B.agentId),
      });
      // A's Token and key cannot open it: the signature fails first.
      expect(() => receiverB.open(0, cryptoA)).toThrow(/signature/);
      // With B's Token but A's corp id as receiveid, it is addressed to someone else.
      const wrongReceiver = new WeComCallbackCrypto(TOKEN_B, KEY_B, SANDBOX.corpId);
      expect(() => receiverB.open(0, wrongReceiver)).toThrow(/another receiver/);
    });

    it("pushes each corp's contact changes with its keys, and keeps each corp's delivery list", async () => {
      await sut.corp(B.corpId).deleteUser('b-only');
      await sut.deleteUser('lisi');

      expect(receiverB.received).toHaveLength(1);
      expect(receiverB.open(0, cryptoB)).toMatchObject({
        ToUserName: B.corpId,
        ChangeType: 'delete_user',
        UserID: 'b-only',
      });
      expect(receiverA.received).toHaveLength(1);
      expect(receiverA.open(0, cryptoA)).toMatchObject({
        ToUserName: SANDBOX.corpId,
        ChangeType: 'delete_user',
        UserID: 'lisi',
      });
      const listB = (await get(`/__simulator/callbacks?corpId=${B.corpId}`)).body;
      expect(listB.map((d: Json) => d.event)).toEqual(['change_contact/delete_user']);
      expect(sut.callbackDeliveries()).toHaveLength(1);
      expect((await get(`/__simulator/callback?corpId=${B.corpId}`)).body).toEqual({
        url: receiverB.url,
        configured: true,
      });
    });

    it("points and switches off one corp's callback through the control API", async () => {
      const off = await call(`/__simulator/callback?corpId=${B.corpId}`, { method: 'DELETE' });
      expect(off.body).toEqual({ url: null, configured: false });
      expect((await get('/__simulator/callback')).body).toEqual({
        url: receiverA.url,
        configured: true,
      });

      const on = await post('/__simulator/callback', {
        corpId: B.corpId,
        url: receiverB.url,
        token: TOKEN_B,
        encodingAesKey: KEY_B,
      });
      expect(on.body).toEqual({ url: receiverB.url, configured: true });
      await post(`/__simulator/users/zhangsan/rename?corpId=${B.corpId}`, { newUserid: 'zs-b' });
      expect(receiverB.open(0, cryptoB)).toMatchObject({ UserID: 'zhangsan', NewUserID: 'zs-b' });
      expect(receiverA.received).toHaveLength(0);
    });
  });

  describe('reset', () => {
    it('removes added corps and their tokens; the sandbox corp starts over as before', async () => {
      await addB();
      const b = await tokenOf(B);
      const a = await tokenOf(SANDBOX);

      expect((await post('/__simulator/reset', {})).status).toBe(200);

      expect((await get('/__simulator/corps')).body.map((c: Json) => c.corpId)).toEqual([
        SANDBOX.corpId,
      ]);
      expect((await userGet(b, 'zhangsan')).errcode).toBe(40014);
      expect((await userGet(a, 'zhangsan')).errcode).toBe(40014);
      expect(
        (await get(`/cgi-bin/gettoken?corpid=${B.corpId}&corpsecret=${B.corpSecret}`)).body.errcode,
      ).toBe(40013);
      expect((await userGet(await tokenOf(SANDBOX), 'zhangsan')).errcode).toBe(0);
      // B can be created afresh, empty of what it had.
      expect((await post('/__simulator/corps', B)).body.members).toBe(0);
    });
  });

  describe('typed API', () => {
    it('reaches each corp through corp(id); corp() is the sandbox corp', () => {
      const b = sut.addCorp({ ...B, members: B_MEMBERS });

      expect(sut.corp(B.corpId)).toBe(b);
      expect(sut.corp()).toBe(sut.corp(SANDBOX.corpId));
      expect(sut.corp().corpId).toBe(sut.corpId);
      expect(b).toMatchObject({ corpId: B.corpId, agentId: B.agentId });
      expect(() => sut.corp('ww-nobody')).toThrow(UnknownCorpError);
      expect(() => sut.addCorp(B)).toThrow(CorpConflictError);
      expect(sut.corps().map((c) => c.corpId)).toEqual([SANDBOX.corpId, B.corpId]);
    });
  });
});
