import { createHash } from 'node:crypto';

import { Injectable } from '@nestjs/common';

import { Clock } from '../common/clock.js';
import { MessagingService, type SendRequest } from '../messaging/messaging.service.js';
import { answersFor, type Language, type MembersRead } from '../user-mappings/member.js';
import { UserMappingsService } from '../user-mappings/user-mappings.service.js';
import { RuntimeSettings } from '../settings/runtime-settings.js';
import { WeComSettings } from '../wecom/wecom-settings.js';
import {
  InterviewNotificationComposer,
  type Composed,
  type InterviewBefore,
} from './interview-notification.composer.js';
import type { InterviewParticipantEntity } from './interview-participant.entity.js';
import type { InterviewReminderEntity } from './interview-reminder.entity.js';
import { quietWindowEnd } from './interview-time.js';
import type { InterviewEntity } from './interview.entity.js';

type Participant = Pick<InterviewParticipantEntity, 'platformUserId' | 'role' | 'rsvp'>;

export interface InterviewChange {
  before: InterviewBefore;
  /** Start, duration or time zone changed. */
  timeChanged: boolean;
  /** Title, position or room changed. */
  detailsChanged: boolean;
  added: Participant[];
  removed: Participant[];
  /** Participants before and after the change. */
  remaining: Participant[];
}

const invitee = (p: Participant) => p.role === 'interviewer' || p.role === 'observer';

/**
 * Turns interview events into outbox messages. The caller holds a TransactionHost transaction,
 * which MessagingService.sendMany joins, so an interview and its notifications commit (or roll back)
 * together. Every key carries the
 * interview version, so a retried request or a restarted instance queues nothing twice.
 */
@Injectable()
export class InterviewNotifier {
  constructor(
    private readonly messaging: MessagingService,
    private readonly composer: InterviewNotificationComposer,
    private readonly settings: WeComSettings,
    private readonly runtime: RuntimeSettings,
    private readonly clock: Clock,
    private readonly mappings: UserMappingsService,
  ) {}

  /**
   * Quiet hours (admin configuration): inside the window, a message waits for its end unless the
   * interview itself starts before then. The interview's time zone stands for the recipients'
   * (user mappings carry none).
   */
  private async notBefore(iv: InterviewEntity): Promise<Date | undefined> {
    const end = quietWindowEnd(
      this.clock.now(),
      (await this.runtime.current()).options.quietHours,
      iv.timezone,
    );
    return end && iv.startsAt.getTime() >= end.getTime() ? end : undefined;
  }

  /**
   * One message per person, written together (MessagingService.sendMany). `read`: the
   * participants' mappings, when the caller's transaction has read them already.
   */
  async booked(
    iv: InterviewEntity,
    participants: Participant[],
    actor: string,
    read?: MembersRead,
  ): Promise<void> {
    const { members, langs, notBefore } = await this.audience(iv, participants, read);
    const invited = participants.filter(invitee);
    const requests: SendRequest[] = [];
    for (const p of invited) {
      requests.push(
        this.request(iv, 'invited', p, this.composer.invitation(iv, langs(p)), actor, notBefore),
      );
    }
    for (const p of participants.filter((x) => x.role === 'recruiter')) {
      const receipt = this.composer.booked(iv, invited.length, langs(p));
      requests.push(this.request(iv, 'booked', p, receipt, actor, notBefore));
    }
    for (const p of participants.filter((x) => x.role === 'candidate')) {
      const notice = this.composer.candidateInvitation(iv, langs(p));
      requests.push(this.request(iv, 'invited', p, notice, actor, notBefore));
    }
    await this.sendAll(requests, members);
  }

  async changed(
    iv: InterviewEntity,
    change: InterviewChange,
    actor: string,
    read?: MembersRead,
  ): Promise<void> {
    const people = [...change.added, ...change.removed, ...change.remaining];
    const { members, langs, notBefore } = await this.audience(iv, people, read);
    // A change of people alone is told to those people only (invited, removed below).
    const kind = change.timeChanged ? 'rescheduled' : change.detailsChanged ? 'updated' : null;
    const roster = {
      added: change.added.map((p) => p.platformUserId),
      removed: change.removed.map((p) => p.platformUserId),
    };
    // The candidate is not told who interviews them (the booking never told them either).
    const nobody = { added: [], removed: [] };
    const requests: SendRequest[] = [];
    if (kind) {
      for (const p of change.remaining) {
        const people = p.role === 'candidate' ? nobody : roster;
        const update = this.composer.changed(iv, change.before, people, langs(p));
        requests.push(this.request(iv, kind, p, update, actor, notBefore));
      }
    }
    for (const p of change.added) {
      requests.push(
        this.request(iv, 'invited', p, this.composer.invitation(iv, langs(p)), actor, notBefore),
      );
    }
    for (const p of change.removed) {
      requests.push(
        this.request(iv, 'removed', p, this.composer.removed(iv, langs(p)), actor, notBefore),
      );
    }
    await this.sendAll(requests, members);
  }

  async canceled(
    iv: InterviewEntity,
    participants: Participant[],
    actor: string,
    read?: MembersRead,
  ): Promise<void> {
    const { members, langs, notBefore } = await this.audience(iv, participants, read);
    await this.sendAll(
      participants.map((p) =>
        this.request(
          iv,
          'canceled',
          p,
          this.composer.canceled(iv, iv.cancelReason, langs(p)),
          actor,
          notBefore,
        ),
      ),
      members,
    );
  }

  /**
   * An interviewer or observer answered the invitation (card button or REST): the interview's
   * recruiters hear it. Keyed by the answer's time, so a repeated answer queues nothing.
   */
  async responded(
    iv: InterviewEntity,
    who: Pick<InterviewParticipantEntity, 'platformUserId' | 'rsvp' | 'respondedAt'>,
    participants: Participant[],
  ): Promise<void> {
    const recruiters = participants.filter((p) => p.role === 'recruiter');
    const members = await this.members(recruiters);
    const langs = languageOf(members);
    const at = who.respondedAt?.getTime() ?? 0;
    for (const p of recruiters) {
      const notice = this.composer.responded(
        iv,
        who.platformUserId,
        who.rsvp === 'accepted',
        langs(p),
      );
      await this.messaging.send(
        {
          kind: 'interview.responded',
          ...notice,
          to: [{ platformUserId: p.platformUserId }],
          notBefore: await this.notBefore(iv),
          idempotencyKey: `interview:${iv.id}:rsvp:${digest(who.platformUserId, who.rsvp, at, p.platformUserId)}`,
          groupKey: iv.id,
          createdBy: who.platformUserId,
        },
        members,
      );
    }
  }

  /**
   * One message per language group (the Chinese one keyed `reminder:<id>`). Returns the id of
   * the first, which the reminder row keeps.
   */
  async reminder(
    iv: InterviewEntity,
    reminder: Pick<InterviewReminderEntity, 'id' | 'kind' | 'leadMinutes'>,
    recipients: Participant[],
  ): Promise<string | null> {
    const members = await this.members(recipients);
    const langs = languageOf(members);
    const groups = new Map<Language, Participant[]>();
    for (const p of recipients) groups.set(langs(p), [...(groups.get(langs(p)) ?? []), p]);
    if (groups.size === 0) groups.set('zh', []);
    let first: string | null = null;
    for (const lang of ['zh', 'en'] as const) {
      const to = groups.get(lang);
      if (!to) continue;
      const composed =
        reminder.kind === 'feedback'
          ? this.composer.feedback(iv, lang)
          : this.composer.reminder(iv, reminder.id, reminder.leadMinutes, lang);
      const message = await this.messaging.send(
        {
          kind: reminder.kind === 'feedback' ? 'interview.feedback' : 'interview.reminder',
          ...composed,
          to: to.map((p) => ({ platformUserId: p.platformUserId })),
          idempotencyKey: lang === 'zh' ? `reminder:${reminder.id}` : `reminder:${reminder.id}:en`,
          notBefore: await this.notBefore(iv),
          groupKey: iv.id,
        },
        members,
      );
      first ??= message.id;
    }
    return first;
  }

  private request(
    iv: InterviewEntity,
    kind: string,
    p: Participant,
    composed: Composed,
    actor: string,
    notBefore: Date | undefined,
  ): SendRequest {
    return {
      kind: `interview.${kind}`,
      ...composed,
      to: [{ platformUserId: p.platformUserId }],
      idempotencyKey: `interview:${iv.id}:${kind}:v${iv.version}:${p.platformUserId}`,
      notBefore,
      groupKey: iv.id,
      createdBy: actor,
    };
  }

  /**
   * Nothing to send is no statement at all. The mappings read for the languages are the ones the
   * messages' recipients resolve through: one lookup for both.
   */
  private async sendAll(requests: SendRequest[], members: MembersRead): Promise<void> {
    if (requests.length > 0) await this.messaging.sendMany(requests, members);
  }

  /** What every notice about `iv` to these people needs: their mappings, languages, send time. */
  private async audience(
    iv: InterviewEntity,
    people: Participant[],
    read?: MembersRead,
  ): Promise<{
    members: MembersRead;
    langs: (p: Participant) => Language;
    notBefore: Date | undefined;
  }> {
    const members = await this.members(people, read);
    return { members, langs: languageOf(members), notBefore: await this.notBefore(iv) };
  }

  /** These people's mappings: `read` when it answers for them all, else read now. */
  private async members(people: Participant[], read?: MembersRead): Promise<MembersRead> {
    const { corpId } = await this.settings.credentials();
    const ids = people.map((p) => p.platformUserId);
    if (answersFor(read, corpId, ids)) return read;
    return { corpId, asked: new Set(ids), members: await this.mappings.membersOf(corpId, ids) };
  }
}

/** Chinese unless the person's mapping asks for English. */
function languageOf(read: MembersRead): (p: Participant) => Language {
  return (p) => read.members.get(p.platformUserId)?.language ?? 'zh';
}

/** A short, fixed-length key part for values of any length (platform ids are not ours to bound). */
function digest(...parts: Array<string | number>): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 32);
}
