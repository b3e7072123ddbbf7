import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadUsersFile, WeComSimulator } from './wecom-simulator.js';

type Json = Record<string, any>;

const START = Date.parse('2024-05-01T02:00:00.000Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const AGENT = 1000002;

describe(WeComSimulator.name, () => {
  let nowMs = START;
  const sut = new WeComSimulator({ now: () => nowMs });

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
    let body: Json;
    try {
      body = JSON.parse(text) as Json;
    } catch {
      body = { text };
    }
    return { status: res.status, body };
  }

  const get = (path: string) => call(path);
  const post = (path: string, body: unknown) =>
    call(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  async function token(): Promise<string> {
    const { body } = await get('/cgi-bin/gettoken?corpid=ww-sandbox&corpsecret=sandbox-secret');
    expect(body.errcode).toBe(0);
    return body.access_token as string;
  }

  async function send(message: Json, accessToken?: string): Promise<Json> {
    const t = accessToken ?? (await token());
    const { body } = await post(`/cgi-bin/message/send?access_token=${t}`, {
      agentid: AGENT,
      ...message,
    });
    return body;
  }

  const text = (touser: string, content = 'hello') => ({
    touser,
    msgtype: 'text',
    text: { content },
  });

  const buttonCard = (taskId: string) => ({
    touser: 'zhangsan|lisi',
    msgtype: 'template_card',
    template_card: {
      card_type: 'button_interaction',
      main_title: { title: '面试邀请', desc: '请确认是否参加' },
      button_list: [
        { text: '接受', style: 1, key: 'accept' },
        { text: '拒绝', style: 2, key: 'decline' },
      ],
      task_id: taskId,
    },
  });

  describe('gettoken', () => {
    const gettoken = () => get('/cgi-bin/gettoken?corpid=ww-sandbox&corpsecret=sandbox-secret');

    it('issues a long url-safe token with expires_in', async () => {
      const first = await gettoken();

      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ errcode: 0, errmsg: 'ok', expires_in: 7200 });
      expect(first.body.access_token).toMatch(/^[A-Za-z0-9_-]{64,}$/);
    });

    it('reuse (the default, as WeCom documents): the same token while valid, expires_in = time left', async () => {
      expect(sut.currentTokenMode).toBe('reuse');
      const first = await gettoken();
      nowMs += 1000 * 1000 + 400;
      const again = await gettoken();
      expect(again.body).toMatchObject({
        access_token: first.body.access_token,
        expires_in: 6199, // whole seconds left
      });

      nowMs += 6200 * 1000; // past its end: a new one
      const next = await gettoken();
      expect(next.body.access_token).not.toBe(first.body.access_token);
      expect(next.body.expires_in).toBe(7200);
    });

    it('reuse-full-ttl: the same token while valid, expires_in always the full lifetime', async () => {
      const { status } = await post('/__simulator/tokens/mode', { mode: 'reuse-full-ttl' });
      expect(status).toBe(200);
      const first = await gettoken();
      nowMs += 7000 * 1000;
      const again = await gettoken();
      expect(again.body).toMatchObject({ access_token: first.body.access_token, expires_in: 7200 });
      // WeCom's word notwithstanding, it ends when it was always going to.
      nowMs += 200 * 1000;
      const { body } = await get(
        `/cgi-bin/user/get?access_token=${first.body.access_token}&userid=lisi`,
      );
      expect(body.errcode).toBe(42001);
      expect((await gettoken()).body.access_token).not.toBe(first.body.access_token);
    });

    it('fresh: a new token on every call, older ones valid until their own expiry', async () => {
      sut.setTokenMode('fresh');
      const first = await gettoken();
      nowMs += 3600 * 1000;
      const second = await gettoken();
      expect(second.body.access_token).not.toBe(first.body.access_token);
      expect(second.body.expires_in).toBe(7200);
      const userGet = (t: string) =>
        get(`/cgi-bin/user/get?access_token=${t}&userid=lisi`).then((r) => r.body.errcode);
      expect(await userGet(first.body.access_token)).toBe(0);
      nowMs += 3600 * 1000;
      expect(await userGet(first.body.access_token)).toBe(42001);
      expect(await userGet(second.body.access_token)).toBe(0);
    });

    it('gives a new token after a revoke or a new secret, and resets the mode with reset()', async () => {
      const first = await gettoken();
      sut.revokeTokens();
      const second = await gettoken();
      expect(second.body.access_token).not.toBe(first.body.access_token);
      sut.setCorpSecret('rotated-secret');
      const third = await get('/cgi-bin/gettoken?corpid=ww-sandbox&corpsecret=rotated-secret');
      expect(third.body.access_token).not.toBe(second.body.access_token);
      sut.setCorpSecret('sandbox-secret');

      sut.setTokenMode('fresh');
      sut.reset();
      expect(sut.currentTokenMode).toBe('reuse');
      expect((await call('/__simulator/tokens/mode')).body).toEqual({ mode: 'reuse' });
    });

    it('refuses an unknown mode on the control API and in the options', async () => {
      const { status, body } = await post('/__simulator/tokens/mode', { mode: 'sometimes' });
      expect(status).toBe(400);
      expect(body.message).toMatch(/reuse, reuse-full-ttl, fresh/);
      expect(() => new WeComSimulator({ tokenMode: 'nope' as never })).toThrow(RangeError);
    });

    it.each([
      ['corpsecret=sandbox-secret', 41002],
      ['corpid=ww-sandbox', 41004],
      ['corpid=ww-other&corpsecret=sandbox-secret', 40013],
      ['corpid=ww-sandbox&corpsecret=wrong', 40001],
    ])('answers %s with errcode %d over HTTP 200', async (query, errcode) => {
      const { status, body } = await get(`/cgi-bin/gettoken?${query}`);

      expect(status).toBe(200);
      expect(body.errcode).toBe(errcode);
      expect(body.access_token).toBeUndefined();
      expect(body.errmsg).toMatch(
        new RegExp(
          `, hint: \\[\\d+_[0-9a-f]+\\], from ip: 127\\.0\\.0\\.1, more info at https://open\\.work\\.weixin\\.qq\\.com/devtool/query\\?e=${errcode}$`,
        ),
      );
    });
  });

  describe('access tokens', () => {
    it('rejects a missing token with 41001 and an unknown one with 40014', async () => {
      expect((await get('/cgi-bin/user/get?userid=zhangsan')).body.errcode).toBe(41001);
      expect((await get('/cgi-bin/user/get?access_token=nope&userid=zhangsan')).body.errcode).toBe(
        40014,
      );
    });

    it('keeps older tokens valid until revoked, then rejects all of them with 40014', async () => {
      sut.setTokenMode('fresh');
      const first = await token();
      const second = await token();
      expect((await get(`/cgi-bin/user/get?access_token=${first}&userid=lisi`)).body.errcode).toBe(
        0,
      );

      expect((await post('/__simulator/tokens/revoke', {})).status).toBe(200);

      for (const t of [first, second]) {
        expect((await get(`/cgi-bin/user/get?access_token=${t}&userid=lisi`)).body.errcode).toBe(
          40014,
        );
      }
    });

    it('expires a token after expires_in seconds by the clock: 42001', async () => {
      const t = await token();
      nowMs += 7199 * 1000;
      expect((await get(`/cgi-bin/user/get?access_token=${t}&userid=lisi`)).body.errcode).toBe(0);

      nowMs += 1000;
      const { body } = await get(`/cgi-bin/user/get?access_token=${t}&userid=lisi`);

      expect(body.errcode).toBe(42001);
      expect(body.errmsg).toMatch(/^access_token expired, hint: /);
    });

    it('revokes jsapi tickets with the tokens', async () => {
      expect(
        (await get(`/cgi-bin/get_jsapi_ticket?access_token=${await token()}`)).body.errcode,
      ).toBe(0);
      sut.revokeTokens();
      expect((await get(`/cgi-bin/get_jsapi_ticket?access_token=nope`)).body.errcode).toBe(40014);
    });
  });

  describe('message/send', () => {
    it('delivers a text message and stores it per member with the full body', async () => {
      const body = await send(text('ZhangSan|lisi', '面试提醒'));

      expect(body).toMatchObject({
        errcode: 0,
        errmsg: 'ok',
        invaliduser: '',
        invalidparty: '',
        invalidtag: '',
        unlicenseduser: '',
      });
      expect(typeof body.msgid).toBe('string');
      expect(body.response_code).toBeUndefined();
      const [received] = sut.messagesFor('zhangsan');
      expect(received).toEqual({
        msgid: body.msgid,
        msgtype: 'text',
        body: { agentid: AGENT, ...text('ZhangSan|lisi', '面试提醒') },
        time: new Date(START).toISOString(),
      });
      const viaHttp = await get('/__simulator/messages?touser=LISI');
      expect(viaHttp.body).toEqual([received]);
      expect(sut.stats().delivered).toBe(2);
    });

    it('gives every message a distinct msgid', async () => {
      const t = await token();
      const a = await send(text('lisi', 'a'), t);
      const b = await send(text('lisi', 'b'), t);
      expect(a.msgid).not.toBe(b.msgid);
    });

    it('counts content in UTF-8 bytes and truncates past 2048 like WeCom, at a character', async () => {
      const t = await token();
      const fits = '好'.repeat(682) + 'ab'; // 682 * 3 + 2 = 2048 bytes
      const tooLong = 'a' + '好'.repeat(683); // 2050 bytes: the 683rd 好 would straddle 2048

      expect((await send(text('lisi', fits), t)).errcode).toBe(0);
      expect(sut.stats().truncated).toBe(0);
      expect((await send(text('lisi', tooLong), t)).errcode).toBe(0);
      const [first, second] = sut.messagesFor('lisi');
      expect((first.body as Json).text.content).toBe(fits);
      expect((second.body as Json).text.content).toBe('a' + '好'.repeat(682));
      expect(Buffer.byteLength((second.body as Json).text.content)).toBe(2047);
      expect(sut.stats().truncated).toBe(1);
    });

    it('truncates markdown over 2048 bytes too, and records it', async () => {
      const body = await send({
        touser: 'lisi',
        msgtype: 'markdown',
        markdown: { content: 'é'.repeat(1025) }, // 2050 bytes of two-byte characters
      });

      expect(body.errcode).toBe(0);
      expect((sut.messagesFor('lisi')[0].body as Json).markdown.content).toBe('é'.repeat(1024));
      expect(sut.stats()).toMatchObject({ delivered: 1, truncated: 1 });
    });

    it('reports invalid and unlicensed members but still delivers to the rest', async () => {
      const body = await send(text('zhangsan|Ghost|sunqi|nobody'));

      expect(body).toMatchObject({
        errcode: 0,
        invaliduser: 'ghost|nobody',
        unlicenseduser: 'sunqi',
      });
      expect(sut.messagesFor('zhangsan')).toHaveLength(1);
      expect(sut.messagesFor('sunqi')).toHaveLength(0);
    });

    it('answers 81013 when no recipient is valid, still naming the invalid ones', async () => {
      const body = await send(text('ghost|sunqi'));

      expect(body).toMatchObject({
        errcode: 81013,
        invaliduser: 'ghost',
        unlicenseduser: 'sunqi',
      });
      expect(body.errmsg).toMatch(/^user & party & tag all invalid, hint/);
      expect(body.msgid).toBeUndefined();
      expect(sut.stats().delivered).toBe(0);
    });

    it('sends @all to every licensed member', async () => {
      expect((await send(text('@all'))).errcode).toBe(0);

      for (const userid of ['zhangsan', 'lisi', 'wangwu', 'zhaoliu']) {
        expect(sut.messagesFor(userid)).toHaveLength(1);
      }
      expect(sut.messagesFor('sunqi')).toHaveLength(0);
    });

    it('reports unknown parties and tags; party 1 is the whole corp', async () => {
      const body = await send({
        toparty: '1|99',
        totag: '7',
        msgtype: 'text',
        text: { content: 'x' },
      });

      expect(body).toMatchObject({ errcode: 0, invalidparty: '99', invalidtag: '7' });
      expect(sut.stats().delivered).toBe(4);
    });

    it.each<[string, unknown, number]>([
      ['malformed JSON', '{"touser": "lisi",', 40058],
      ['a JSON array', '[1,2]', 40058],
      [
        'JSON nested 100,000 deep',
        `{"agentid":${AGENT},"x":${'['.repeat(1e5)}${']'.repeat(1e5)}}`,
        40058,
      ],
      ['another agentid', { ...text('lisi'), agentid: 1000003 }, 301002],
      ['no agentid', { ...text('lisi'), agentid: undefined }, 41011],
      ['a string agentid', { ...text('lisi'), agentid: '1000002' }, 40058],
      ['an unknown msgtype', { ...text('lisi'), msgtype: 'voice' }, 40008],
      ['touser as a number', { ...text('lisi'), touser: 42 }, 40058],
      ['no recipient at all', { msgtype: 'text', text: { content: 'x' } }, 40035],
      ['1001 userids', text(Array.from({ length: 1001 }, (_, i) => `u${i}`).join('|')), 40032],
      ['101 parties', { ...text(''), toparty: Array(101).fill('1').join('|') }, 82002],
      [
        '101 tags',
        { ...text(''), totag: Array.from({ length: 101 }, (_, i) => i).join('|') },
        82003,
      ],
      ['empty text content', text('lisi', ''), 44004],
      ['content as an object', { ...text('lisi'), text: { content: { a: 1 } } }, 40058],
      [
        'a duplicate_check_interval over 4 hours',
        { ...text('lisi'), enable_duplicate_check: 1, duplicate_check_interval: 14401 },
        40058,
      ],
    ])('rejects %s with %d', async (_name, message, errcode) => {
      const t = await token();
      const payload =
        typeof message === 'string'
          ? message
          : JSON.stringify({ agentid: AGENT, ...(message as Json) });
      const { status, body } = await post(`/cgi-bin/message/send?access_token=${t}`, payload);

      expect(status).toBe(200);
      expect(body.errcode).toBe(errcode);
      expect(sut.stats().delivered).toBe(0);
    });

    describe('card and news bodies', () => {
      const textcard = (fields: Json) => ({
        touser: 'lisi',
        msgtype: 'textcard',
        textcard: {
          title: '面试',
          description: '明天 10:00',
          url: 'https://example.com/i/1',
          ...fields,
        },
      });
      const news = (articles: unknown[]) => ({
        touser: 'lisi',
        msgtype: 'news',
        news: { articles },
      });
      const article = { title: '标题', url: 'https://example.com' };
      const notice = (fields: Json) => ({
        touser: 'lisi',
        msgtype: 'template_card',
        template_card: {
          card_type: 'text_notice',
          main_title: { title: '面试安排' },
          card_action: { type: 1, url: 'https://example.com' },
          ...fields,
        },
      });

      it.each<[string, Json, number]>([
        ['a valid textcard', textcard({ btntxt: '查看详情' }), 0],
        ['a textcard title of 129 bytes', textcard({ title: 'x'.repeat(129) }), 45002],
        ['a textcard description of 513 bytes', textcard({ description: '好'.repeat(171) }), 45002],
        ['a textcard without url', textcard({ url: undefined }), 40058],
        ['a textcard with an ftp url', textcard({ url: 'ftp://example.com' }), 40058],
        [
          'a textcard url over 2048 bytes',
          textcard({ url: `https://e.com/${'a'.repeat(2040)}` }),
          45002,
        ],
        ['a textcard btntxt of 5 characters', textcard({ btntxt: '立即去查看' }), 45002],
        ['a textcard with an empty title', textcard({ title: '' }), 44004],
        ['news with 8 articles', news(Array(8).fill(article)), 0],
        ['news with 9 articles', news(Array(9).fill(article)), 45002],
        ['news without articles', news([]), 40058],
        ['news article without url', news([{ title: 't' }]), 40058],
        ['news article without title', news([{ url: 'https://example.com' }]), 44004],
        ['a text_notice card', notice({}), 0],
        ['a text_notice without card_action', notice({ card_action: undefined }), 40058],
        [
          'a main_title.title of 37 characters',
          notice({ main_title: { title: '字'.repeat(37) } }),
          45002,
        ],
        [
          'a main_title.desc of 45 characters',
          notice({ main_title: { title: 't', desc: 'd'.repeat(45) } }),
          45002,
        ],
        ['a sub_title_text of 161 characters', notice({ sub_title_text: 's'.repeat(161) }), 45002],
        [
          '7 horizontal_content_list items',
          notice({ horizontal_content_list: Array(7).fill({ keyname: 'k', value: 'v' }) }),
          45002,
        ],
        [
          '4 jump_list items',
          notice({ jump_list: Array(4).fill({ type: 1, title: 't', url: 'https://e.com' }) }),
          45002,
        ],
        ['an unknown card_type', notice({ card_type: 'vote_interaction' }), 40058],
        ['a task_id with a space', notice({ task_id: 'task 1' }), 40058],
        ['a task_id of 129 bytes', notice({ task_id: 'a'.repeat(129) }), 45002],
        [
          'a button card without task_id',
          {
            ...buttonCard('x'),
            template_card: { ...buttonCard('x').template_card, task_id: undefined },
          },
          40058,
        ],
        [
          'a button card without buttons',
          {
            ...buttonCard('x'),
            template_card: { ...buttonCard('x').template_card, button_list: [] },
          },
          40058,
        ],
        [
          'a button card with 7 buttons',
          {
            ...buttonCard('x'),
            template_card: {
              ...buttonCard('x').template_card,
              button_list: Array(7).fill({ text: 'b', key: 'k' }),
            },
          },
          45002,
        ],
        [
          'a button with style 5',
          {
            ...buttonCard('x'),
            template_card: {
              ...buttonCard('x').template_card,
              button_list: [{ text: 'b', style: 5, key: 'k' }],
            },
          },
          40058,
        ],
        [
          'a button without key',
          {
            ...buttonCard('x'),
            template_card: { ...buttonCard('x').template_card, button_list: [{ text: 'b' }] },
          },
          44004,
        ],
      ])('answers %s with %d', async (_name, message, errcode) => {
        expect((await send(message)).errcode).toBe(errcode);
      });
    });

    describe('template card field sets', () => {
      it('counts fields a card type does not document, and delivers the card anyway', async () => {
        const card = buttonCard('fs1');
        (card.template_card as Json).jump_list = [{ type: 1, title: '房间', url: 'https://e.com' }];
        (card.template_card as Json).main_title = { title: '面试', desc: 'd', subtitle: 'x' };

        expect(await send(card)).toMatchObject({ errcode: 0 });
        await send(buttonCard('fs2'));

        expect(sut.stats().undocumentedFields).toEqual({
          'template_card.button_interaction.jump_list': 1,
          'template_card.button_interaction.main_title.subtitle': 1,
        });
        expect(sut.messagesFor('lisi')).toHaveLength(2);
      });

      it('accepts jump_list on a text_notice, where WeCom documents it', async () => {
        const body = await send({
          touser: 'lisi',
          msgtype: 'template_card',
          template_card: {
            card_type: 'text_notice',
            main_title: { title: '提醒' },
            card_action: { type: 1, url: 'https://example.com' },
            jump_list: [{ type: 1, title: '房间', url: 'https://example.com' }],
          },
        });
        expect(body.errcode).toBe(0);
        expect(sut.stats().undocumentedFields).toEqual({});
      });

      it('returns response_code only for interactive card types', async () => {
        const t = await token();
        const notice = await send(
          {
            touser: 'lisi',
            msgtype: 'template_card',
            template_card: {
              card_type: 'text_notice',
              main_title: { title: '提醒' },
              card_action: { type: 1, url: 'https://example.com' },
              task_id: 'notice1',
            },
          },
          t,
        );
        const buttons = await send(buttonCard('rc1'), t);
        const vote = await send(
          {
            touser: 'lisi',
            msgtype: 'template_card',
            template_card: {
              card_type: 'vote_interaction',
              main_title: { title: '投票' },
              task_id: 'vote1',
              checkbox: { question_key: 'q', option_list: [{ id: 'a', text: 'A' }] },
              submit_button: { text: '提交', key: 'submit' },
            },
          },
          t,
        );

        expect(notice).toMatchObject({ errcode: 0 });
        expect(notice).not.toHaveProperty('response_code');
        expect(buttons.response_code).toEqual(expect.any(String));
        expect(vote.response_code).toEqual(expect.any(String));
      });

      it('refuses two buttons with the same key', async () => {
        const card = buttonCard('dup-keys');
        (card.template_card as Json).button_list = [
          { text: '接受', style: 1, key: 'same' },
          { text: '拒绝', style: 2, key: 'same' },
        ];
        const body = await send(card);
        expect(body.errcode).toBe(40058);
        expect(body.errmsg).toMatch(/^template_card\.button_list\[1\]\.key is repeated/);
        expect(sut.stats().delivered).toBe(0);
      });
    });

    it('rejects a task_id the app already used', async () => {
      const t = await token();
      expect((await send(buttonCard('interview-42'), t)).errcode).toBe(0);

      const again = await send(buttonCard('interview-42'), t);

      expect(again.errcode).toBe(40058);
      expect(again.errmsg).toMatch(/task_id already exists/);
    });

    it('suppresses an identical message within the duplicate check interval, answering the original msgid', async () => {
      const t = await token();
      const message = { ...text('lisi'), enable_duplicate_check: 1, duplicate_check_interval: 600 };
      const first = await send(message, t);
      nowMs += 599_000;
      // Same JSON, keys in another order.
      const reordered = await send(
        {
          duplicate_check_interval: 600,
          enable_duplicate_check: 1,
          text: { content: 'hello' },
          msgtype: 'text',
          touser: 'lisi',
        },
        t,
      );

      expect(reordered).toMatchObject({ errcode: 0, msgid: first.msgid });
      expect(sut.messagesFor('lisi')).toHaveLength(1);
      expect(sut.stats()).toMatchObject({ delivered: 1, duplicatesSuppressed: 1 });

      nowMs += 1000;
      const later = await send(message, t);
      expect(later.msgid).not.toBe(first.msgid);
      expect(sut.messagesFor('lisi')).toHaveLength(2);
    });

    it('does not treat a different message as a duplicate', async () => {
      const t = await token();
      await send({ ...text('lisi', 'one'), enable_duplicate_check: 1 }, t);
      await send({ ...text('lisi', 'two'), enable_duplicate_check: 1 }, t);
      expect(sut.stats()).toMatchObject({ delivered: 2, duplicatesSuppressed: 0 });
    });

    it('silently drops the 31st message to one member within a rolling minute', async () => {
      const t = await token();
      for (let i = 0; i < 30; i++) {
        nowMs += 1000;
        expect((await send(text('lisi|wangwu', `m${i}`), t)).errcode).toBe(0);
      }
      const thirtyFirst = await send(text('lisi', 'm30'), t);

      expect(thirtyFirst.errcode).toBe(0);
      expect(sut.messagesFor('lisi')).toHaveLength(30);
      expect(sut.stats()).toMatchObject({ delivered: 60, dropped: 1 });

      // Other members are not affected, and the first slot frees up 60 s after it was used.
      expect((await send(text('zhangsan'), t)).errcode).toBe(0);
      nowMs = START + 1000 + MINUTE;
      await send(text('lisi', 'again'), t);
      expect(sut.messagesFor('lisi')).toHaveLength(31);
    });

    it('silently drops past 1000 messages to one member within a rolling hour', async () => {
      const small = new WeComSimulator({
        now: () => nowMs,
        perMemberPerMinute: 2,
        perMemberPerHour: 5,
      });
      const base = await small.start();
      try {
        const t = (
          (await (
            await fetch(`${base}/cgi-bin/gettoken?corpid=ww-sandbox&corpsecret=sandbox-secret`)
          ).json()) as Json
        ).access_token as string;
        const sendSmall = async (content: string) =>
          (await (
            await fetch(`${base}/cgi-bin/message/send?access_token=${t}`, {
              method: 'POST',
              body: JSON.stringify({ agentid: AGENT, ...text('lisi', content) }),
            })
          ).json()) as Json;
        // Two a minute for three minutes: the minute limit never bites, the hour one does.
        for (let i = 0; i < 6; i++) {
          nowMs = START + Math.floor(i / 2) * MINUTE + (i % 2) * 1000;
          expect(await sendSmall(`m${i}`)).toMatchObject({ errcode: 0 });
        }
        expect(small.messagesFor('lisi').map((m) => (m.body as Json).text.content)).toEqual([
          'm0',
          'm1',
          'm2',
          'm3',
          'm4',
        ]);
        expect(small.stats()).toMatchObject({ delivered: 5, dropped: 1 });

        // An hour after the first delivery its slot is free again.
        nowMs = START + HOUR + 1;
        await sendSmall('later');
        expect(small.messagesFor('lisi')).toHaveLength(6);
      } finally {
        await small.stop();
      }
    });

    it('has WeCom limits as its defaults: 30 a minute, 1000 an hour', async () => {
      const t = await token();
      for (let i = 0; i < 1001; i++) {
        nowMs = START + Math.floor(i / 30) * (MINUTE + 1) + (i % 30);
        await send(text('lisi', `m${i}`), t);
      }
      expect(sut.messagesFor('lisi')).toHaveLength(1000);
      expect(sut.stats()).toMatchObject({ delivered: 1000, dropped: 1 });
    });
  });

  describe('message/recall', () => {
    it('marks every stored copy recalled', async () => {
      const t = await token();
      const { msgid } = await send(text('zhangsan|lisi'), t);

      const { body } = await post(`/cgi-bin/message/recall?access_token=${t}`, { msgid });

      expect(body).toEqual({ errcode: 0, errmsg: 'ok' });
      expect(sut.messagesFor('zhangsan')[0].recalled).toBe(true);
      expect(sut.messagesFor('lisi')[0].recalled).toBe(true);
    });

    it('refuses an unknown msgid, a second recall and a message older than 24 hours', async () => {
      let t = await token();
      const recall = async (msgid: unknown) =>
        (await post(`/cgi-bin/message/recall?access_token=${t}`, { msgid })).body;
      const { msgid } = await send(text('lisi', 'old'), t);
      const { msgid: fresh } = await send(text('lisi', 'fresh'), t);

      expect((await recall('unknown')).errcode).toBe(40058);
      expect((await recall(undefined)).errcode).toBe(40058);
      expect((await recall(fresh)).errcode).toBe(0);
      expect((await recall(fresh)).errmsg).toMatch(/^msg has been recalled/);

      nowMs += 24 * HOUR + 1;
      t = await token(); // the first one expired with the clock
      const old = await recall(msgid);

      expect(old.errcode).toBe(40058);
      expect(old.errmsg).toMatch(/within 24 hours/);
      expect(sut.messagesFor('lisi')[0].recalled).toBeUndefined();
    });
  });

  describe('message/update_template_card', () => {
    it('accepts a response_code once and logs the update for the named members', async () => {
      const t = await token();
      const sent = await send(buttonCard('task-1'), t);
      expect(sent.response_code).toEqual(expect.any(String));
      const update = {
        userids: ['ZhangSan', 'wangwu'],
        agentid: AGENT,
        response_code: sent.response_code,
        button: { replace_name: '已接受' },
      };

      const first = await post(`/cgi-bin/message/update_template_card?access_token=${t}`, update);
      const second = await post(`/cgi-bin/message/update_template_card?access_token=${t}`, update);

      expect(first.body).toEqual({ errcode: 0, errmsg: 'ok', invaliduser: ['wangwu'] });
      expect(second.body.errcode).toBe(40058);
      expect(second.body.errmsg).toMatch(/^response_code has been used/);
      const log = sut.messagesFor('zhangsan');
      expect(log.map((m) => m.msgtype)).toEqual(['template_card', 'update_template_card']);
      expect(log[1]).toMatchObject({ msgid: sent.msgid, body: update });
      expect(sut.messagesFor('lisi').map((m) => m.msgtype)).toEqual(['template_card']);
    });

    it('updates every recipient when userids is absent, and accepts a full template_card', async () => {
      const t = await token();
      const sent = await send(buttonCard('task-2'), t);
      const { body } = await post(`/cgi-bin/message/update_template_card?access_token=${t}`, {
        agentid: AGENT,
        response_code: sent.response_code,
        template_card: { ...buttonCard('task-2').template_card, main_title: { title: '已处理' } },
      });

      expect(body).toEqual({ errcode: 0, errmsg: 'ok', invaliduser: [] });
      expect(sut.messagesFor('lisi')).toHaveLength(2);
    });

    it('refuses an unknown, a 72-hour-old or a mismatched-agent response_code', async () => {
      let t = await token();
      const sent = await send(buttonCard('task-3'), t);
      const update = (code: string, agentid = AGENT) =>
        post(`/cgi-bin/message/update_template_card?access_token=${t}`, {
          agentid,
          response_code: code,
          button: { replace_name: '已拒绝' },
        });

      expect((await update('made-up')).body.errcode).toBe(40058);
      expect((await update(sent.response_code, 1)).body.errcode).toBe(301002);
      nowMs += 72 * HOUR + 1;
      t = await token();
      const expired = await update(sent.response_code);
      expect(expired.body.errcode).toBe(40058);
      expect(expired.body.errmsg).toMatch(/^response_code expired/);
    });
  });

  describe('contacts', () => {
    it('reads a member and answers 60111 for an unknown one', async () => {
      const t = await token();

      const { body } = await get(`/cgi-bin/user/get?access_token=${t}&userid=ZhangSan`);

      expect(body).toEqual({
        errcode: 0,
        errmsg: 'ok',
        userid: 'zhangsan',
        name: '张三',
        department: [1],
        position: '',
        status: 1,
      });
      expect((await get(`/cgi-bin/user/get?access_token=${t}&userid=ghost`)).body.errcode).toBe(
        60111,
      );
    });

    it("answers 60011 for a member outside the app's visible range, and lists them as invaliduser", async () => {
      const added = await post('/__simulator/users', [
        { userid: 'Outsider', name: '外人', inRange: false },
      ]);
      expect(added.status).toBe(200);
      const t = await token();

      expect((await get(`/cgi-bin/user/get?access_token=${t}&userid=outsider`)).body).toMatchObject(
        { errcode: 60011, errmsg: expect.stringMatching(/^no privilege/) },
      );
      expect(await send(text('lisi|Outsider'), t)).toMatchObject({
        errcode: 0,
        invaliduser: 'outsider',
      });
      expect(await send(text('outsider'), t)).toMatchObject({
        errcode: 81013,
        invaliduser: 'outsider',
      });
      await send(text('@all'), t);
      expect(sut.messagesFor('outsider')).toEqual([]);
      expect(sut.messagesFor('lisi')).toHaveLength(2);

      const bad = await post('/__simulator/users', [{ userid: 'x', name: 'X', inRange: 'no' }]);
      expect(bad.status).toBe(400);
      expect(bad.body.message).toBe('users[0].inRange must be a boolean');
    });

    it('finds userids by mobile and by email', async () => {
      const t = await token();
      const byMobile = (body: unknown) => post(`/cgi-bin/user/getuserid?access_token=${t}`, body);
      const byEmail = (body: unknown) =>
        post(`/cgi-bin/user/get_userid_by_email?access_token=${t}`, body);

      expect((await byMobile({ mobile: '13800000002' })).body).toEqual({
        errcode: 0,
        errmsg: 'ok',
        userid: 'lisi',
      });
      expect((await byMobile({ mobile: '13900000000' })).body.errcode).toBe(46004);
      expect((await byMobile({})).body.errcode).toBe(40058);
      expect((await byEmail({ email: 'WangWu@example.com', email_type: 1 })).body).toMatchObject({
        errcode: 0,
        userid: 'wangwu',
      });
      expect((await byEmail({ email: 'ghost@example.com' })).body.errcode).toBe(46004);
      expect((await byEmail({ email: 'lisi@example.com', email_type: 3 })).body.errcode).toBe(
        40058,
      );
    });

    it('adds and replaces members through the control API, validating them', async () => {
      const added = await post('/__simulator/users', [
        { userid: 'Candidate1', name: '候选人', mobile: '13700000000' },
        { userid: 'lisi', name: '李四(新)', licensed: false },
      ]);
      expect(added.status).toBe(200);
      const t = await token();

      expect((await get(`/cgi-bin/user/get?access_token=${t}&userid=candidate1`)).body.name).toBe(
        '候选人',
      );
      expect(await send(text('lisi|candidate1'), t)).toMatchObject({
        errcode: 0,
        unlicenseduser: 'lisi',
      });
      expect(
        (await post(`/cgi-bin/user/getuserid?access_token=${t}`, { mobile: '13800000002' })).body
          .errcode,
      ).toBe(46004);

      for (const bad of [
        { userid: 'x' },
        [{ userid: 'has space', name: 'n' }],
        [{ userid: 'a', name: 'n', licensed: 'yes' }],
        'nope',
      ]) {
        const res = await post('/__simulator/users', bad);
        expect(res.status).toBe(400);
        expect(res.body.message).toEqual(expect.any(String));
      }
    });
  });

  describe('OAuth', () => {
    it('answers a member code once', async () => {
      const t = await token();
      const { body: issued } = await post('/__simulator/oauth/codes', { userid: 'zhangsan' });

      const first = await get(`/cgi-bin/auth/getuserinfo?access_token=${t}&code=${issued.code}`);
      const second = await get(`/cgi-bin/auth/getuserinfo?access_token=${t}&code=${issued.code}`);

      expect(first.body).toEqual({
        errcode: 0,
        errmsg: 'ok',
        userid: 'zhangsan',
        user_ticket: expect.any(String),
      });
      expect(second.body.errcode).toBe(40029);
    });

    it('expires a code after 5 minutes', async () => {
      const t = await token();
      const early = sut.issueOAuthCode('lisi');
      const late = sut.issueOAuthCode('lisi');
      nowMs += 5 * MINUTE - 1;
      expect(
        (await get(`/cgi-bin/auth/getuserinfo?access_token=${t}&code=${early}`)).body.userid,
      ).toBe('lisi');

      nowMs += 1;
      expect(
        (await get(`/cgi-bin/auth/getuserinfo?access_token=${t}&code=${late}`)).body.errcode,
      ).toBe(40029);
    });

    it('answers a non-member code with openid and external_userid', async () => {
      const t = await token();
      const { body: issued } = await post('/__simulator/oauth/codes', { openid: 'o-outsider' });

      const { body } = await get(`/cgi-bin/auth/getuserinfo?access_token=${t}&code=${issued.code}`);

      expect(body).toEqual({
        errcode: 0,
        errmsg: 'ok',
        openid: 'o-outsider',
        external_userid: expect.stringMatching(/^wm/),
      });
      expect(body.userid).toBeUndefined();
    });

    it('refuses bad code requests', async () => {
      const t = await token();
      expect(
        (await get(`/cgi-bin/auth/getuserinfo?access_token=${t}&code=forged`)).body.errcode,
      ).toBe(40029);
      expect((await get(`/cgi-bin/auth/getuserinfo?access_token=${t}`)).body.errcode).toBe(41008);
      expect((await post('/__simulator/oauth/codes', { userid: 'ghost' })).status).toBe(400);
      expect((await post('/__simulator/oauth/codes', { userid: 'lisi', openid: 'o' })).status).toBe(
        400,
      );
    });
  });

  describe('JS-SDK tickets', () => {
    it('issues corp and agent_config tickets, and refuses another ticket type', async () => {
      const t = await token();

      const corp = await get(`/cgi-bin/get_jsapi_ticket?access_token=${t}`);
      const agent = await get(`/cgi-bin/ticket/get?access_token=${t}&type=agent_config`);
      const other = await get(`/cgi-bin/ticket/get?access_token=${t}&type=wx_card`);

      expect(corp.body).toEqual({
        errcode: 0,
        errmsg: 'ok',
        ticket: expect.any(String),
        expires_in: 7200,
      });
      expect(agent.body).toEqual({
        errcode: 0,
        errmsg: 'ok',
        ticket: expect.any(String),
        expires_in: 7200,
      });
      expect(other.body.errcode).toBe(40058);
    });
  });

  describe('faults', () => {
    it('answers an errcode for the given number of calls, then recovers', async () => {
      const t = await token();
      const { status, body: fault } = await post('/__simulator/faults', {
        path: '/cgi-bin/message/send',
        errcode: -1,
        times: 2,
      });
      expect(status).toBe(200);
      expect(fault).toMatchObject({
        id: expect.any(String),
        path: '/cgi-bin/message/send',
        times: 2,
      });

      const answers = [];
      for (let i = 0; i < 3; i++) answers.push((await send(text('lisi'), t)).errcode);

      expect(answers).toEqual([-1, -1, 0]);
      expect(sut.messagesFor('lisi')).toHaveLength(1);
    });

    it('answers a bare HTTP status', async () => {
      sut.addFault({ path: '/cgi-bin/gettoken', httpStatus: 502, times: 1 });

      const res = await fetch(
        `${sut.url}/cgi-bin/gettoken?corpid=ww-sandbox&corpsecret=sandbox-secret`,
      );

      expect(res.status).toBe(502);
      expect(await res.text()).toBe('Bad Gateway');
      expect(await token()).toEqual(expect.any(String));
    });

    it('delays a call and then answers normally', async () => {
      sut.addFault({ path: '/cgi-bin/gettoken', delayMs: 150 });
      const started = performance.now();
      await token();
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    });

    it('lets a stalled call in by the token it came with, and processes it when the stall ends', async () => {
      const first = await token();
      const expiry = sut.tokenExpiry(first)!;
      nowMs = expiry - 1_000;
      const message = { ...text('lisi', 'held'), enable_duplicate_check: 1 };
      sut.addFault({ path: '/cgi-bin/message/send', delayMs: 500, times: 1 });
      const held = send(message, first);
      // Counted as it arrives, with its arrival time: from here on it is WeCom's.
      while (sut.stats().calls['/cgi-bin/message/send'] !== 1) {
        await new Promise((resolve) => setImmediate(resolve));
      }

      // The token ends while WeCom holds the call; the client's retry, on a new token, overtakes it.
      nowMs = expiry + 1_000;
      expect((await send(message, first)).errcode).toBe(42001);
      const second = await token();
      expect(second).not.toBe(first);
      expect(await send(message, second)).toMatchObject({ errcode: 0 });

      // The held call is processed, not turned away: the duplicate check keeps it from arriving.
      expect(await held).toMatchObject({ errcode: 0 });
      expect(sut.stats()).toMatchObject({ delivered: 1, duplicatesSuppressed: 1 });
      expect(sut.messagesFor('lisi').map((m) => (m.body as Json).text)).toEqual([
        { content: 'held' },
      ]);
    });

    it('skips a fault whose probability is 0, and DELETE clears all faults', async () => {
      sut.addFault({ path: '/cgi-bin/gettoken', errcode: 40001, probability: 0 });
      expect(await token()).toEqual(expect.any(String));

      sut.addFault({ path: '/cgi-bin/gettoken', errcode: 45009 });
      const hit = await get('/cgi-bin/gettoken?corpid=ww-sandbox&corpsecret=sandbox-secret');
      expect(hit.body.errcode).toBe(45009);
      expect(hit.body.errmsg).toMatch(/e=45009$/);

      expect((await call('/__simulator/faults', { method: 'DELETE' })).status).toBe(200);
      expect(sut.faults()).toEqual([]);
      expect(await token()).toEqual(expect.any(String));
    });

    it.each<[string, unknown]>([
      ['no path', { errcode: -1 }],
      ['no effect', { path: '/cgi-bin/gettoken' }],
      ['errcode 0', { path: '/cgi-bin/gettoken', errcode: 0 }],
      ['httpStatus 999', { path: '/cgi-bin/gettoken', httpStatus: 999 }],
      ['times 0', { path: '/cgi-bin/gettoken', errcode: -1, times: 0 }],
      ['probability 2', { path: '/cgi-bin/gettoken', errcode: -1, probability: 2 }],
      ['an unknown field', { path: '/cgi-bin/gettoken', errcode: -1, when: 'now' }],
      ['malformed JSON', '{'],
    ])('refuses a fault with %s', async (_name, fault) => {
      const res = await post('/__simulator/faults', fault);
      expect(res.status).toBe(400);
      expect(res.body.message).toEqual(expect.any(String));
      expect(sut.faults()).toEqual([]);
    });
  });

  describe('control API and HTTP edges', () => {
    it('counts every call per path, failed ones included', async () => {
      const t = await token();
      await get('/cgi-bin/gettoken?corpid=bad&corpsecret=bad');
      await send(text('ghost'), t);
      await get('/cgi-bin/user/get');

      const { body } = await get('/__simulator/stats');

      expect(body).toEqual({
        calls: { '/cgi-bin/gettoken': 2, '/cgi-bin/message/send': 1, '/cgi-bin/user/get': 1 },
        delivered: 0,
        dropped: 0,
        duplicatesSuppressed: 0,
        truncated: 0,
        undocumentedFields: {},
      });
    });

    it('requires touser to list messages', async () => {
      expect((await get('/__simulator/messages')).status).toBe(400);
      expect((await get('/__simulator/messages?touser=nobody')).body).toEqual([]);
    });

    it('answers 404 for an unknown path, and 43002 for GET on a POST endpoint', async () => {
      const unknown = await get('/cgi-bin/no/such/api');
      expect(unknown.status).toBe(404);
      expect(unknown.body.errcode).toBe(-1);
      expect((await get('/__simulator/nothing')).status).toBe(404);
      expect((await get(`/cgi-bin/message/send?access_token=${await token()}`)).body.errcode).toBe(
        43002,
      );
    });

    it('answers 413 for a body over 1 MiB and keeps serving', async () => {
      const t = await token();
      const huge = JSON.stringify({ ...text('lisi', 'x'.repeat(1024 * 1024)), agentid: AGENT });

      const res = await post(`/cgi-bin/message/send?access_token=${t}`, huge);

      expect(res.status).toBe(413);
      expect((await send(text('lisi'), t)).errcode).toBe(0);
    });

    it('resets messages, counters, faults, tokens and members', async () => {
      const t = await token();
      await send(text('lisi'), t);
      sut.addUsers([{ userid: 'temp', name: 'Temp' }]);
      sut.addFault({ path: '/cgi-bin/user/get', errcode: -1 });

      expect((await post('/__simulator/reset', {})).status).toBe(200);

      expect(sut.stats()).toEqual({
        calls: {},
        delivered: 0,
        dropped: 0,
        duplicatesSuppressed: 0,
        truncated: 0,
        undocumentedFields: {},
      });
      expect(sut.messagesFor('lisi')).toEqual([]);
      expect(sut.faults()).toEqual([]);
      expect((await get(`/cgi-bin/user/get?access_token=${t}&userid=lisi`)).body.errcode).toBe(
        40014,
      );
      expect(
        (await get(`/cgi-bin/user/get?access_token=${await token()}&userid=temp`)).body.errcode,
      ).toBe(60111);
    });
  });

  describe('options', () => {
    it('uses the configured credentials, agent, ttl, rate limit and latency', async () => {
      const other = new WeComSimulator({
        corpId: 'ww-test',
        corpSecret: 's3cret',
        agentId: 7,
        tokenTtlSeconds: 60,
        latencyMs: 100,
        perMemberPerMinute: 1,
        users: [{ userid: 'solo', name: 'Solo' }],
      });
      const base = await other.start();
      try {
        const started = performance.now();
        const tokenRes = (await (
          await fetch(`${base}/cgi-bin/gettoken?corpid=ww-test&corpsecret=s3cret`)
        ).json()) as Json;
        expect(performance.now() - started).toBeGreaterThanOrEqual(90);
        expect(tokenRes).toMatchObject({ errcode: 0, expires_in: 60 });

        const sendOnce = async () =>
          (
            await fetch(`${base}/cgi-bin/message/send?access_token=${tokenRes.access_token}`, {
              method: 'POST',
              body: JSON.stringify({ agentid: 7, ...text('solo') }),
            })
          ).json();
        expect(await sendOnce()).toMatchObject({ errcode: 0 });
        expect(await sendOnce()).toMatchObject({ errcode: 0 });
        expect(other.stats()).toMatchObject({ delivered: 1, dropped: 1 });

        const control = performance.now();
        await fetch(`${base}/__simulator/stats`);
        expect(performance.now() - control).toBeLessThan(90);
      } finally {
        await other.stop();
      }
    });

    it('refuses invalid options', () => {
      expect(() => new WeComSimulator({ agentId: 0 })).toThrow(/agentId/);
      expect(() => new WeComSimulator({ users: [{ userid: '', name: 'x' }] })).toThrow(/userid/);
    });
  });

  describe(loadUsersFile.name, () => {
    const dir = mkdtempSync(join(tmpdir(), 'wecom-sim-'));

    it('reads a JSON array of members', () => {
      const path = join(dir, 'users.json');
      writeFileSync(path, JSON.stringify([{ userid: 'a1', name: 'A', email: 'a@x.com' }]));

      expect(loadUsersFile(path)).toEqual([
        { userid: 'a1', name: 'A', email: 'a@x.com', licensed: true, status: 1, inRange: true },
      ]);
    });

    it.each([
      ['missing.json', undefined, /Cannot read users file/],
      ['broken.json', '[{', /is not valid JSON/],
      ['object.json', '{"userid":"a"}', /expected a JSON array/],
      ['noname.json', '[{"userid":"a"}]', /users\[0\]\.name/],
    ])('throws a clear error for %s', (file, content, message) => {
      const path = join(dir, file);
      if (content !== undefined) writeFileSync(path, content);
      expect(() => loadUsersFile(path)).toThrow(message);
    });
  });
});
