import { checkContent } from '../messaging/message-content.js';
import { undocumentedCardFields } from '../wecom/wecom-limits.js';
import {
  InterviewNotificationComposer,
  truncateBytes,
  truncateChars,
  type Composed,
  type InterviewFacts,
} from './interview-notification.composer.js';
import { isTimeZone, localTimeWithZone } from './interview-time.js';

const interview = (overrides: Partial<InterviewFacts> = {}): InterviewFacts => ({
  id: '6f1c2a9e-0b7d-4c3e-9a51-2d8f4e6b7c10',
  title: '前端工程师 二面',
  position: '高级前端工程师',
  candidateName: '王小明',
  startsAt: new Date('2026-11-24T02:00:00Z'),
  durationMinutes: 60,
  timezone: 'Asia/Shanghai',
  roomUrl: 'https://www.showmebug.com/pads/AB12CD',
  version: 3,
  ...overrides,
});

/** Every body the composer can make for one interview, in both languages. */
function everything(sut: InterviewNotificationComposer, iv: InterviewFacts): Composed[] {
  return (['zh', 'en'] as const).flatMap((lang) => [
    sut.invitation(iv, lang),
    sut.booked(iv, 20, lang),
    sut.candidateInvitation(iv, lang),
    sut.changed(
      iv,
      {
        ...iv,
        title: `${iv.title}（旧）`,
        position: null,
        startsAt: new Date('2026-11-25T06:30:00Z'),
        durationMinutes: 45,
        roomUrl: `${iv.roomUrl}-old`,
      },
      { added: ['u-'.repeat(200)], removed: ['u-li', 'u-wang'] },
      lang,
    ),
    sut.changed(iv, { ...iv, title: '旧标题' }, { added: [], removed: [] }, lang),
    sut.removed(iv, lang),
    sut.canceled(iv, '原因'.repeat(600), lang),
    sut.reminder(iv, '0b7d6f1c-2a9e-4c3e-9a51-2d8f4e6b7c10', 15, lang),
    sut.feedback(iv, lang),
  ]);
}

describe(InterviewNotificationComposer.name, () => {
  const sut = new InterviewNotificationComposer();

  it('makes the invitation card WeCom expects', () => {
    const { msgtype, content } = sut.invitation(interview(), 'zh');
    expect(msgtype).toBe('template_card');
    expect(content).toMatchObject({
      card_type: 'button_interaction',
      main_title: { title: '前端工程师 二面', desc: '王小明 · 高级前端工程师' },
      card_action: { type: 1, url: 'https://www.showmebug.com/pads/AB12CD' },
      task_id: 'iv-6f1c2a9e0b7d4c3e9a512d8f4e6b7c10-v3',
      button_list: [
        { text: '接受', style: 1, key: 'rsvp:accept:6f1c2a9e-0b7d-4c3e-9a51-2d8f4e6b7c10' },
        { text: '拒绝', style: 2, key: 'rsvp:decline:6f1c2a9e-0b7d-4c3e-9a51-2d8f4e6b7c10' },
      ],
    });
    expect(content.horizontal_content_list).toEqual([
      { keyname: '候选人', value: '王小明' },
      { keyname: '岗位', value: '高级前端工程师' },
      { keyname: '时间', value: '2026-11-24 10:00 (Asia/Shanghai)' },
      { keyname: '时长', value: '60 分钟' },
    ]);
    expect(checkContent(msgtype, content)).toEqual([]);
    // button_interaction documents no jump_list (nor any field outside CARD_FIELDS).
    expect(content).not.toHaveProperty('jump_list');
    expect(undocumentedCardFields(content)).toEqual([]);
  });

  it('keeps within every limit for long Chinese titles, names and reasons', () => {
    const iv = interview({
      title: '资深全栈工程师（分布式系统与高并发方向）技术面试第二轮——系统设计与编码'.repeat(5),
      position: '高级前端工程师'.repeat(20),
      candidateName: '欧阳'.repeat(60),
      roomUrl: `https://www.showmebug.com/pads/${'x'.repeat(1500)}`,
    });
    for (const { msgtype, content } of everything(sut, iv)) {
      expect({ msgtype, problems: checkContent(msgtype, content) }).toEqual({
        msgtype,
        problems: [],
      });
    }
    const card = sut.invitation(iv, 'zh').content as {
      main_title: { title: string; desc: string };
    };
    expect([...card.main_title.title]).toHaveLength(36);
    expect(card.main_title.title.endsWith('…')).toBe(true);
    expect([...card.main_title.desc].length).toBeLessThanOrEqual(44);
  });

  it('does not let user text open tags in a textcard', () => {
    const { content } = sut.booked(interview({ candidateName: '<b>x</b> & co' }), 1, 'zh');
    expect(content.description).toContain('＜b＞x＜/b＞ ＆ co');
  });

  it('shows times in the interview’s own time zone', () => {
    const at = new Date('2026-11-24T02:00:00Z');
    expect(localTimeWithZone(at, 'Asia/Shanghai')).toBe('2026-11-24 10:00 (Asia/Shanghai)');
    expect(localTimeWithZone(at, 'America/New_York')).toBe('2026-11-23 21:00 (America/New_York)');
    expect(localTimeWithZone(at, 'Asia/Kolkata')).toBe('2026-11-24 07:30 (Asia/Kolkata)');
    const moved = sut.changed(
      interview({ timezone: 'Europe/Berlin', startsAt: new Date('2026-11-25T09:00:00Z') }),
      { ...interview(), startsAt: at, durationMinutes: 60, timezone: 'Asia/Shanghai' },
      { added: [], removed: [] },
      'zh',
    );
    expect(moved.content.description).toContain('原时间：2026-11-24 10:00 (Asia/Shanghai)');
    expect(moved.content.description).toContain('新时间：2026-11-25 10:00 (Europe/Berlin)');
  });

  describe('a change notice says what changed, and only that', () => {
    const none = { added: [], removed: [] };
    const lines = (c: Composed) =>
      [...String(c.content.description).matchAll(/<div class="(\w+)">([^<]*)<\/div>/g)].map(
        ([, cls, line]) => `${cls}: ${line}`,
      );

    it('a new start: old and new time, headline "moved"', () => {
      const before = interview();
      const after = interview({ startsAt: new Date('2026-11-25T02:00:00Z'), version: 4 });
      const zh = sut.changed(after, before, none, 'zh');
      expect(zh.content.title).toBe('面试时间变更：前端工程师 二面');
      expect(lines(zh)).toEqual([
        'gray: 原时间：2026-11-24 10:00 (Asia/Shanghai)',
        'highlight: 新时间：2026-11-25 10:00 (Asia/Shanghai)',
        'normal: 候选人：王小明',
      ]);
      const en = sut.changed(after, before, none, 'en');
      expect(en.content.title).toBe('Interview moved: 前端工程师 二面');
      expect(lines(en)).toEqual([
        'gray: Was：2026-11-24 10:00 (Asia/Shanghai)',
        'highlight: Now：2026-11-25 10:00 (Asia/Shanghai)',
        'normal: Candidate：王小明',
      ]);
    });

    it('the duration alone: no "time changed", no old and new time, the two durations', () => {
      const before = interview();
      const after = interview({ durationMinutes: 90 });
      const zh = sut.changed(after, before, none, 'zh');
      expect(zh.content.title).toBe('面试时长变更：前端工程师 二面');
      expect(lines(zh)).toEqual([
        'gray: 2026-11-24 10:00 (Asia/Shanghai)',
        'highlight: 时长：60 分钟 → 90 分钟',
        'normal: 候选人：王小明',
      ]);
      const en = sut.changed(after, before, none, 'en');
      expect(en.content.title).toBe('Interview duration changed: 前端工程师 二面');
      expect(lines(en)).toEqual([
        'gray: 2026-11-24 10:00 (Asia/Shanghai)',
        'highlight: Duration: 60 min → 90 min',
        'normal: Candidate：王小明',
      ]);
    });

    it('title, position, room and people: each named once, with old and new values', () => {
      const before = interview({ title: '前端一面', position: null, roomUrl: 'https://x.test/a' });
      const after = interview({ durationMinutes: 45 });
      const roster = { added: ['u-li', 'u-wang'], removed: ['u-zhang'] };
      const zh = sut.changed(after, before, roster, 'zh');
      expect(zh.content.title).toBe('面试信息更新：前端工程师 二面');
      expect(zh.content.url).toBe('https://www.showmebug.com/pads/AB12CD');
      expect(lines(zh)).toEqual([
        'gray: 2026-11-24 10:00 (Asia/Shanghai)',
        'highlight: 时长：60 分钟 → 45 分钟',
        'highlight: 标题：前端一面 → 前端工程师 二面',
        'highlight: 岗位：无 → 高级前端工程师',
        'highlight: 面试间链接已更换，请使用本卡片中的新链接',
        'highlight: 新加入：u-li、u-wang',
        'highlight: 已移出：u-zhang',
        'normal: 候选人：王小明',
      ]);
      const en = sut.changed(after, before, roster, 'en');
      expect(en.content.title).toBe('Interview updated: 前端工程师 二面');
      expect(lines(en)).toEqual([
        'gray: 2026-11-24 10:00 (Asia/Shanghai)',
        'highlight: Duration: 60 min → 45 min',
        'highlight: Title: 前端一面 → 前端工程师 二面',
        'highlight: Position: none → 高级前端工程师',
        'highlight: The room link changed: use the link on this card',
        'highlight: Added: u-li, u-wang',
        'highlight: Removed: u-zhang',
        'normal: Candidate：王小明',
      ]);
      for (const c of [zh, en]) expect(checkContent(c.msgtype, c.content)).toEqual([]);
    });

    it('a room link change alone says only that', () => {
      const zh = sut.changed(interview(), interview({ roomUrl: 'https://x.test/a' }), none, 'zh');
      expect(zh.content.title).toBe('面试信息更新：前端工程师 二面');
      expect(lines(zh)).toEqual([
        'gray: 2026-11-24 10:00 (Asia/Shanghai)',
        'highlight: 面试间链接已更换，请使用本卡片中的新链接',
        'normal: 候选人：王小明',
      ]);
    });

    it('long lines share the 512 bytes: short ones whole, long ones cut, the time always whole', () => {
      const long = '很长的标题'.repeat(40);
      const zh = sut.changed(
        interview({ title: long }),
        interview({ title: `${long}!` }),
        none,
        'zh',
      );
      expect(checkContent(zh.msgtype, zh.content)).toEqual([]);
      const [time, title, candidate] = lines(zh);
      expect(time).toBe('gray: 2026-11-24 10:00 (Asia/Shanghai)');
      expect(title.startsWith('highlight: 标题：很长的标题')).toBe(true);
      expect(title.endsWith('…')).toBe(true);
      expect(candidate).toBe('normal: 候选人：王小明');
      // The title line gets what the two short lines leave, not a third of the card.
      expect(Buffer.byteLength(String(zh.content.description))).toBeGreaterThan(480);
    });
  });

  it('writes English for English readers', () => {
    const { content } = sut.reminder(
      interview(),
      '0b7d6f1c-2a9e-4c3e-9a51-2d8f4e6b7c10',
      1440,
      'en',
    );
    expect(content).toMatchObject({
      card_type: 'text_notice',
      emphasis_content: { title: '10:00', desc: 'Starts in 24 h' },
      task_id: 'rm-0b7d6f1c2a9e4c3e9a512d8f4e6b7c10-en',
    });
  });

  it('truncates by code points and by UTF-8 bytes', () => {
    expect(truncateChars('😀'.repeat(40), 36)).toBe(`${'😀'.repeat(35)}…`);
    expect(truncateChars('短', 36)).toBe('短');
    const cut = truncateBytes('长'.repeat(700), 2048);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(2048);
    expect(cut.endsWith('…')).toBe(true);
  });

  it('knows an IANA zone from a made-up one', () => {
    expect(isTimeZone('Asia/Shanghai')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(isTimeZone('+08:00')).toBe(false);
  });
});
