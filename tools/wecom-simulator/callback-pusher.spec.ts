import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { parseCallbackXml } from '../../src/wecom/callback/callback-xml.js';
import { WeComCallbackCrypto } from '../../src/wecom/callback/wecom-callback-crypto.js';
import { WeComSimulator } from './wecom-simulator.js';

const TOKEN = 'QDG6eK';
const AES_KEY = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C';
const CORP = 'ww-sandbox';
const START = Date.parse('2026-11-23T02:00:00.000Z');

interface Received {
  query: URLSearchParams;
  envelope: Record<string, string>;
  /** The decrypted event, after the signature was checked as the service checks it. */
  fields: Record<string, string>;
}

/** A callback endpoint that checks what it gets exactly as WeComCallbackService does. */
class Receiver {
  readonly received: Received[] = [];
  /** Per request, in order: how to answer; afterwards 200. */
  readonly plan: ({ status: number } | { delayMs: number })[] = [];
  private server?: Server;
  private readonly crypto = new WeComCallbackCrypto(TOKEN, AES_KEY, CORP);
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/wecom/callback`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    const envelope = parseCallbackXml(Buffer.concat(chunks).toString('utf8'));
    const plaintext = this.crypto.decryptRequest({
      msgSignature: query.get('msg_signature') ?? '',
      timestamp: query.get('timestamp') ?? '',
      nonce: query.get('nonce') ?? '',
      encrypt: envelope.Encrypt ?? '',
    });
    this.received.push({ query, envelope, fields: parseCallbackXml(plaintext) });
    const step = this.plan.shift();
    if (step && 'delayMs' in step) await new Promise((r) => setTimeout(r, step.delayMs));
    res.writeHead(step && 'status' in step ? step.status : 200).end('');
  }
}

describe('WeComSimulator callbacks', () => {
  let receiver: Receiver;
  let sut: WeComSimulator;
  const nowMs = START;

  beforeEach(async () => {
    receiver = new Receiver();
    await receiver.start();
    sut = new WeComSimulator({ now: () => nowMs, callbackTimeoutMs: 300 });
    await sut.start();
    sut.setCallback({ url: receiver.url, token: TOKEN, encodingAesKey: AES_KEY });
  });

  afterEach(async () => {
    await sut.stop();
    await receiver.stop();
  });

  async function control(path: string, body?: unknown, method = 'POST') {
    const res = await fetch(`${sut.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  async function sendCard(touser: string, key: string): Promise<string> {
    const { body: t } = await control(
      `/cgi-bin/gettoken?corpid=${CORP}&corpsecret=sandbox-secret`,
      undefined,
      'GET',
    );
    const { body } = await control(`/cgi-bin/message/send?access_token=${t.access_token}`, {
      touser,
      msgtype: 'template_card',
      agentid: 1000002,
      template_card: {
        card_type: 'button_interaction',
        main_title: { title: '面试邀请' },
        task_id: `task-${Math.random().toString(36).slice(2)}`,
        button_list: [{ text: '接受', style: 1, key }],
      },
    });
    expect(body.errcode).toBe(0);
    return body.msgid as string;
  }

  it('a card tap reaches the callback URL encrypted and signed like WeCom, answered at once', async () => {
    const msgid = await sendCard('zhangsan', 'rsvp:accept:iv1');
    const { click, delivery } = await sut.clickCard('zhangsan', msgid, 'rsvp:accept:iv1');

    expect(delivery).toMatchObject({ event: 'template_card_event', delivered: true });
    expect(delivery.attempts).toEqual([{ status: 200, error: null, ms: expect.any(Number) }]);
    expect(receiver.received).toHaveLength(1);
    const [got] = receiver.received;
    expect(got!.query.get('timestamp')).toBe(String(START / 1000));
    expect(got!.envelope).toMatchObject({ ToUserName: CORP, AgentID: '1000002' });
    expect(got!.fields).toEqual({
      ToUserName: CORP,
      FromUserName: 'zhangsan',
      CreateTime: String(START / 1000),
      MsgType: 'event',
      Event: 'template_card_event',
      EventKey: 'rsvp:accept:iv1',
      TaskId: click.taskId,
      CardType: 'button_interaction',
      ResponseCode: click.responseCode,
      AgentID: '1000002',
    });
  });

  it('a button key holding "]]>" survives the CDATA section', async () => {
    const msgid = await sendCard('lisi', 'odd]]>key');
    await sut.clickCard('lisi', msgid, 'odd]]>key');
    expect(receiver.received[0]!.fields.EventKey).toBe('odd]]>key');
  });

  it('an answer other than 200 is retried, signed afresh, until a 200', async () => {
    receiver.plan.push({ status: 500 }, { status: 503 });
    const delivery = await sut.deleteUser('wangwu');
    expect(delivery.delivered).toBe(true);
    expect(delivery.attempts.map((a) => a.status)).toEqual([500, 503, 200]);
    expect(receiver.received).toHaveLength(3);
    const nonces = new Set(receiver.received.map((r) => r.query.get('nonce')));
    expect(nonces.size).toBe(3);
    // Every try carries the same event.
    for (const r of receiver.received) {
      expect(r.fields).toEqual({
        ToUserName: CORP,
        FromUserName: 'sys',
        CreateTime: String(START / 1000),
        MsgType: 'event',
        Event: 'change_contact',
        ChangeType: 'delete_user',
        UserID: 'wangwu',
      });
    }
  });

  it('an answer slower than the timeout counts as lost: 1 try + 3 retries, then given up', async () => {
    receiver.plan.push({ delayMs: 600 }, { delayMs: 600 }, { delayMs: 600 }, { delayMs: 600 });
    const delivery = await sut.setUserStatus('zhaoliu', 2);
    expect(delivery.delivered).toBe(false);
    expect(delivery.attempts.map((a) => a.error)).toEqual([
      'timeout',
      'timeout',
      'timeout',
      'timeout',
    ]);
    expect(receiver.received).toHaveLength(4);
    expect(receiver.received[0]!.fields).toMatchObject({
      ChangeType: 'update_user',
      UserID: 'zhaoliu',
      Status: '2',
    });
    expect(sut.callbackDeliveries().at(-1)).toEqual(delivery);
  });

  it('a deleted member is gone from the directory: user/get 60111, sends list them as invalid', async () => {
    await sut.deleteUser('wangwu');
    const { body: t } = await control(
      `/cgi-bin/gettoken?corpid=${CORP}&corpsecret=sandbox-secret`,
      undefined,
      'GET',
    );
    const { body: user } = await control(
      `/cgi-bin/user/get?access_token=${t.access_token}&userid=wangwu`,
      undefined,
      'GET',
    );
    expect(user.errcode).toBe(60111);
    const { body: sent } = await control(`/cgi-bin/message/send?access_token=${t.access_token}`, {
      touser: 'wangwu|lisi',
      msgtype: 'text',
      agentid: 1000002,
      text: { content: 'hi' },
    });
    expect(sent).toMatchObject({ errcode: 0, invaliduser: 'wangwu' });
    expect(sut.messagesFor('wangwu')).toEqual([]);
  });

  it('a renamed member receives under the new userid; the event carries UserID and NewUserID', async () => {
    const { status, body } = await control('/__simulator/users/lisi/rename', {
      newUserid: 'lisi2',
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({ event: 'change_contact/update_user', delivered: true });
    expect(receiver.received[0]!.fields).toMatchObject({
      ChangeType: 'update_user',
      UserID: 'lisi',
      NewUserID: 'lisi2',
    });
    await sendCard('lisi2', 'k');
    expect(sut.messagesFor('lisi2')).toHaveLength(1);
    // The old userid is free, and no longer a member.
    expect((await control('/__simulator/users/lisi/delete')).status).toBe(404);
  });

  it('the control API: target by URL only, clicks and member changes over HTTP, clear errors', async () => {
    expect((await control('/__simulator/callback', undefined, 'GET')).body).toEqual({
      url: receiver.url,
      configured: true,
    });
    const bad = await control('/__simulator/callback', {
      url: receiver.url,
      token: TOKEN,
      aesKey: 'short-key',
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).not.toContain('short-key');
    expect(JSON.stringify(bad.body)).not.toContain(TOKEN);

    const msgid = await sendCard('zhangsan', 'k1');
    const click = await control('/__simulator/cards/click', {
      userid: 'zhangsan',
      msgid,
      key: 'k1',
    });
    expect(click.status).toBe(200);
    expect(click.body.delivery).toMatchObject({ delivered: true });
    expect(
      (await control('/__simulator/cards/click', { userid: 'zhangsan', msgid, key: 'nope' }))
        .status,
    ).toBe(404);
    expect((await control('/__simulator/users/nobody/delete')).status).toBe(404);
    expect(
      (await control('/__simulator/users/zhangsan/rename', { newUserid: 'lisi' })).status,
    ).toBe(400);
    expect((await control('/__simulator/users/zhangsan/status', { status: 3 })).status).toBe(400);

    expect((await control('/__simulator/callback', undefined, 'DELETE')).body).toEqual({
      url: null,
      configured: false,
    });
    const skipped = await sut.deleteUser('sunqi');
    expect(skipped).toMatchObject({ delivered: false, attempts: [], skipped: expect.any(String) });
    const log = await control('/__simulator/callbacks', undefined, 'GET');
    expect(log.body.map((d: { event: string }) => d.event)).toEqual([
      'template_card_event',
      'change_contact/delete_user',
    ]);
  });
});
