import { Injectable } from '@nestjs/common';

import type { Language } from '../user-mappings/member.js';
import type { WeComMsgType } from '../wecom/client/wecom.types.js';
import { localTimeWithZone } from './interview-time.js';
import type { InterviewEntity } from './interview.entity.js';
import { rsvpEventKey } from './rsvp-event-key.js';

/** What a notification needs to know about its interview. */
export type InterviewFacts = Pick<
  InterviewEntity,
  | 'id'
  | 'title'
  | 'position'
  | 'candidateName'
  | 'startsAt'
  | 'durationMinutes'
  | 'timezone'
  | 'roomUrl'
  | 'version'
>;

export interface Composed {
  msgtype: WeComMsgType;
  content: Record<string, unknown>;
}

/** The interview as it was before a change: what a change notice compares against. */
export type InterviewBefore = Pick<
  InterviewFacts,
  'title' | 'position' | 'startsAt' | 'durationMinutes' | 'timezone' | 'roomUrl'
>;

/** Who joined or left the interview in the same change (platform user ids). */
export interface RosterChange {
  added: string[];
  removed: string[];
}

const COPY = {
  zh: {
    candidate: '候选人',
    position: '岗位',
    time: '时间',
    duration: '时长',
    minutes: (n: number) => `${n} 分钟`,
    room: '进入面试间',
    roomShort: '面试间',
    accept: '接受',
    decline: '拒绝',
    inviteSub: '你被邀请参加这场面试，请确认能否参加。',
    booked: (t: string) => `面试已安排：${t}`,
    bookedInterviewers: (n: number) => `已邀请 ${n} 位面试官/旁听人`,
    candidateInvite: (t: string) => `面试邀请：${t}`,
    rescheduled: (t: string) => `面试时间变更：${t}`,
    durationChanged: (t: string) => `面试时长变更：${t}`,
    before: '原时间',
    after: '新时间',
    updated: (t: string) => `面试信息更新：${t}`,
    title: '标题',
    none: '无',
    fromTo: (label: string, from: string, to: string) => `${label}：${from} → ${to}`,
    roomChanged: '面试间链接已更换，请使用本卡片中的新链接',
    added: (ids: string[]) => `新加入：${ids.join('、')}`,
    left: (ids: string[]) => `已移出：${ids.join('、')}`,
    removed: (t: string, when: string) => `你已不再参加面试「${t}」（${when}），无需出席。`,
    canceled: (t: string, when: string) => `面试已取消：「${t}」\n时间：${when}`,
    reason: '原因',
    startsIn: (lead: number) =>
      lead >= 60 && lead % 60 === 0 ? `${lead / 60} 小时后开始` : `${lead} 分钟后开始`,
    feedback: (t: string) => `请提交面试反馈：${t}`,
    feedbackBody: '面试已结束，请尽快在 ShowMeBug 提交反馈。',
    positionFallback: '面试',
    responded: (who: string, accepted: boolean, t: string, when: string) =>
      `${who} ${accepted ? '已接受' : '已拒绝'}面试「${t}」（${when}）`,
    buttonAccepted: '已接受',
    buttonDeclined: '已拒绝',
    buttonClosed: '已失效',
  },
  en: {
    candidate: 'Candidate',
    position: 'Position',
    time: 'Time',
    duration: 'Duration',
    minutes: (n: number) => `${n} min`,
    room: 'Open the room',
    roomShort: 'Room',
    accept: 'Accept',
    decline: 'Decline',
    inviteSub: 'You are invited to this interview. Can you make it?',
    booked: (t: string) => `Interview booked: ${t}`,
    bookedInterviewers: (n: number) => `${n} interviewer(s)/observer(s) invited`,
    candidateInvite: (t: string) => `Interview invitation: ${t}`,
    rescheduled: (t: string) => `Interview moved: ${t}`,
    durationChanged: (t: string) => `Interview duration changed: ${t}`,
    before: 'Was',
    after: 'Now',
    updated: (t: string) => `Interview updated: ${t}`,
    title: 'Title',
    none: 'none',
    fromTo: (label: string, from: string, to: string) => `${label}: ${from} → ${to}`,
    roomChanged: 'The room link changed: use the link on this card',
    added: (ids: string[]) => `Added: ${ids.join(', ')}`,
    left: (ids: string[]) => `Removed: ${ids.join(', ')}`,
    removed: (t: string, when: string) =>
      `You are no longer on the interview "${t}" (${when}); no need to attend.`,
    canceled: (t: string, when: string) => `Interview canceled: "${t}"\nTime: ${when}`,
    reason: 'Reason',
    startsIn: (lead: number) =>
      lead >= 60 && lead % 60 === 0 ? `Starts in ${lead / 60} h` : `Starts in ${lead} min`,
    feedback: (t: string) => `Feedback due: ${t}`,
    feedbackBody: 'The interview is over; please submit your feedback in ShowMeBug.',
    positionFallback: 'Interview',
    responded: (who: string, accepted: boolean, t: string, when: string) =>
      `${who} ${accepted ? 'accepted' : 'declined'} the interview "${t}" (${when})`,
    buttonAccepted: 'Accepted',
    buttonDeclined: 'Declined',
    buttonClosed: 'No longer open',
  },
} as const;

/** WeCom counts card text in characters; code points are the closest match. */
export function truncateChars(s: string, max: number): string {
  const cps = [...s];
  return cps.length <= max ? s : `${cps.slice(0, max - 1).join('')}…`;
}

/** For fields WeCom measures in UTF-8 bytes (text, textcard). */
export function truncateBytes(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  let out = '';
  let used = 3; // the ellipsis
  for (const cp of s) {
    const n = Buffer.byteLength(cp, 'utf8');
    if (used + n > max) break;
    out += cp;
    used += n;
  }
  return `${out}…`;
}

/**
 * textcard descriptions are HTML-ish: user text must not open tags. Full-width look-alikes
 * instead of entities, so that cutting to a byte limit cannot split an `&lt;`.
 */
function defuseHtml(s: string): string {
  return s.replace(/&/g, '＆').replace(/</g, '＜').replace(/>/g, '＞');
}

/**
 * Builds the WeCom bodies for interview notifications, within every limit that
 * message-content.ts checks (and WeCom enforces): titles are cut to fit, never rejected.
 */
@Injectable()
export class InterviewNotificationComposer {
  /** The card interviewers and observers get: details, the room, and RSVP buttons. */
  invitation(iv: InterviewFacts, lang: Language): Composed {
    const c = COPY[lang];
    return {
      msgtype: 'template_card',
      content: {
        card_type: 'button_interaction',
        main_title: { title: truncateChars(iv.title, 36), desc: this.desc(iv, lang) },
        sub_title_text: c.inviteSub,
        horizontal_content_list: this.details(iv, lang),
        // button_interaction has no jump_list (wecom-limits.ts CARD_FIELDS): a tap on the
        // card itself opens the room.
        card_action: { type: 1, url: iv.roomUrl },
        task_id: taskId('iv', iv.id, `v${iv.version}`),
        button_list: [
          { text: c.accept, style: 1, key: rsvpEventKey('accept', iv.id) },
          { text: c.decline, style: 2, key: rsvpEventKey('decline', iv.id) },
        ],
      },
    };
  }

  /** The booking recruiter's receipt. */
  booked(iv: InterviewFacts, invited: number, lang: Language): Composed {
    const c = COPY[lang];
    return this.textcard(iv, c.booked(iv.title), lang, [
      ['gray', localTimeWithZone(iv.startsAt, iv.timezone)],
      ['normal', `${c.candidate}：${iv.candidateName}`],
      ['normal', c.bookedInterviewers(invited)],
    ]);
  }

  /** A candidate who is a WeCom member gets the time and the room, no buttons. */
  candidateInvitation(iv: InterviewFacts, lang: Language): Composed {
    const c = COPY[lang];
    return this.textcard(iv, c.candidateInvite(iv.title), lang, [
      ['highlight', localTimeWithZone(iv.startsAt, iv.timezone)],
      ['normal', `${c.duration}：${c.minutes(iv.durationMinutes)}`],
    ]);
  }

  /**
   * What changed, and only that: a new start shows the old and the new time, every other field
   * that changed shows its old and new value, people who joined or left are named. The headline
   * says "moved" only when the start did.
   */
  changed(
    iv: InterviewFacts,
    before: InterviewBefore,
    roster: RosterChange,
    lang: Language,
  ): Composed {
    const c = COPY[lang];
    const was = localTimeWithZone(before.startsAt, before.timezone);
    const now = localTimeWithZone(iv.startsAt, iv.timezone);
    const moved = was !== now;
    const durationChanged = before.durationMinutes !== iv.durationMinutes;
    const titleChanged = before.title !== iv.title;
    const positionChanged = before.position !== iv.position;
    const roomChanged = before.roomUrl !== iv.roomUrl;
    const onlyDuration = durationChanged && !titleChanged && !positionChanged && !roomChanged;

    const headline = moved
      ? c.rescheduled(iv.title)
      : onlyDuration
        ? c.durationChanged(iv.title)
        : c.updated(iv.title);
    const lines: Line[] = moved
      ? [
          ['gray', `${c.before}：${was}`],
          ['highlight', `${c.after}：${now}`],
        ]
      : [['gray', now]];
    if (durationChanged) {
      const minutes = [before.durationMinutes, iv.durationMinutes].map((n) => c.minutes(n));
      lines.push(['highlight', c.fromTo(c.duration, minutes[0], minutes[1])]);
    }
    if (titleChanged) lines.push(['highlight', c.fromTo(c.title, before.title, iv.title)]);
    if (positionChanged) {
      const [from, to] = [before.position, iv.position].map((x) => x ?? c.none);
      lines.push(['highlight', c.fromTo(c.position, from, to)]);
    }
    if (roomChanged) lines.push(['highlight', c.roomChanged]);
    if (roster.added.length) lines.push(['highlight', c.added(roster.added)]);
    if (roster.removed.length) lines.push(['highlight', c.left(roster.removed)]);
    lines.push(['normal', `${c.candidate}：${iv.candidateName}`]);
    return this.textcard(iv, headline, lang, lines);
  }

  /** The recruiter hears when an interviewer or observer answers the invitation. */
  responded(iv: InterviewFacts, who: string, accepted: boolean, lang: Language): Composed {
    const when = localTimeWithZone(iv.startsAt, iv.timezone);
    return text(COPY[lang].responded(who, accepted, iv.title, when));
  }

  /** What the clicked card's button turns into: the answer, or "closed" if it came too late. */
  answeredLabel(answer: 'accepted' | 'declined' | 'closed', lang: Language): string {
    const c = COPY[lang];
    if (answer === 'accepted') return c.buttonAccepted;
    return answer === 'declined' ? c.buttonDeclined : c.buttonClosed;
  }

  removed(iv: InterviewFacts, lang: Language): Composed {
    const when = localTimeWithZone(iv.startsAt, iv.timezone);
    return text(COPY[lang].removed(iv.title, when));
  }

  canceled(iv: InterviewFacts, reason: string | null, lang: Language): Composed {
    const c = COPY[lang];
    const when = localTimeWithZone(iv.startsAt, iv.timezone);
    return text(c.canceled(iv.title, when) + (reason ? `\n${c.reason}：${reason}` : ''));
  }

  /** Shortly before the start: one tap on the card opens the coding room. */
  reminder(iv: InterviewFacts, reminderId: string, leadMinutes: number, lang: Language): Composed {
    const c = COPY[lang];
    return {
      msgtype: 'template_card',
      content: {
        card_type: 'text_notice',
        main_title: { title: truncateChars(iv.title, 36), desc: this.desc(iv, lang) },
        emphasis_content: {
          title: localTimeWithZone(iv.startsAt, iv.timezone).slice(11, 16),
          desc: truncateChars(c.startsIn(leadMinutes), 15),
        },
        horizontal_content_list: this.details(iv, lang),
        card_action: { type: 1, url: iv.roomUrl },
        jump_list: [{ type: 1, title: c.room, url: iv.roomUrl }],
        task_id: taskId('rm', reminderId, lang),
      },
    };
  }

  feedback(iv: InterviewFacts, lang: Language): Composed {
    const c = COPY[lang];
    return this.textcard(iv, c.feedback(iv.title), lang, [
      ['gray', localTimeWithZone(iv.startsAt, iv.timezone)],
      ['normal', `${c.candidate}：${iv.candidateName}`],
      ['normal', c.feedbackBody],
    ]);
  }

  private desc(iv: InterviewFacts, lang: Language): string {
    const what = iv.position ?? COPY[lang].positionFallback;
    return truncateChars(`${iv.candidateName} · ${what}`, 44);
  }

  private details(iv: InterviewFacts, lang: Language): Record<string, string>[] {
    const c = COPY[lang];
    return [
      { keyname: c.candidate, value: truncateChars(iv.candidateName, 30) },
      ...(iv.position ? [{ keyname: c.position, value: truncateChars(iv.position, 30) }] : []),
      { keyname: c.time, value: localTimeWithZone(iv.startsAt, iv.timezone) },
      { keyname: c.duration, value: c.minutes(iv.durationMinutes) },
    ];
  }

  private textcard(iv: InterviewFacts, title: string, lang: Language, lines: Line[]): Composed {
    // Lines are cut one by one so that a long name cannot push the time out of the card: each
    // gets at most an equal share of the 512 bytes, and what short lines leave goes to long ones.
    const parts = lines.map(([cls, line]) => ({
      cls,
      text: defuseHtml(line),
      frame: Buffer.byteLength(`<div class="${cls}"></div>`),
    }));
    const budget = new Map<(typeof parts)[number], number>();
    let left = 512;
    const byNeed = [...parts].sort(
      (a, b) => a.frame + Buffer.byteLength(a.text) - (b.frame + Buffer.byteLength(b.text)),
    );
    byNeed.forEach((part, i) => {
      const share = Math.floor(left / (byNeed.length - i));
      const given = Math.min(part.frame + Buffer.byteLength(part.text), share);
      budget.set(part, given);
      left -= given;
    });
    const description = parts
      .map((p) => `<div class="${p.cls}">${truncateBytes(p.text, budget.get(p)! - p.frame)}</div>`)
      .join('');
    return {
      msgtype: 'textcard',
      content: {
        title: truncateBytes(title, 128),
        description,
        url: iv.roomUrl,
        btntxt: COPY[lang].roomShort,
      },
    };
  }
}

type Line = readonly ['gray' | 'normal' | 'highlight', string];

function text(content: string): Composed {
  return { msgtype: 'text', content: { content: truncateBytes(content, 2048) } };
}

/** `iv-<uuid without dashes>-v3`: WeCom allows 0-9 A-Z a-z _ - @, at most 128 bytes. */
function taskId(prefix: string, uuid: string, suffix: string): string {
  return `${prefix}-${uuid.replace(/-/g, '')}-${suffix}`;
}
