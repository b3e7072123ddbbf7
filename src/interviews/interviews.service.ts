import {
  ConflictException,
  PreconditionFailedException,
  ForbiddenException,
  Injectable,
  NotFoundException,
} from '@nestjs/common';

import type { AuthUser } from '../auth/roles.js';
import { Clock } from '../common/clock.js';
import { ifMatchVersion, staleVersion } from '../common/entity-version.js';
import { TransactionHost } from '../database/transaction-host.js';
import { RuntimeSettings } from '../settings/runtime-settings.js';
import { answersFor, type MappingStatus, type MembersRead } from '../user-mappings/member.js';
import { UserMappingsService } from '../user-mappings/user-mappings.service.js';
import type { Page } from '../common/cursor.js';
import { ProblemType } from '../common/problem-details.js';
import type { MessageDto } from '../messaging/dto/send-message.dto.js';
import { MessageHistoryService } from '../messaging/message-history.service.js';
import type {
  CancelInterviewDto,
  CreateInterviewDto,
  RsvpResponse,
  UpdateInterviewDto,
} from './dto/create-interview.dto.js';
import type {
  InterviewDetailsDto,
  InterviewDto,
  ListInterviewsQueryDto,
  ParticipantDto,
  UnreachableParticipantDto,
  ReminderDto,
} from './dto/interview.dto.js';
import { ValidationProblemException } from '../common/validation-problem.js';
import { InterviewNotifier } from './interview-notifier.js';
import type {
  InterviewParticipantEntity,
  ParticipantRole,
} from './interview-participant.entity.js';
import type { InterviewReminderEntity } from './interview-reminder.entity.js';
import { localTime } from './interview-time.js';
import type { InterviewEntity } from './interview.entity.js';
import { InterviewsRepository, type NewBooking } from './interviews.repository.js';

const DEFAULT_TIMEZONE = 'Asia/Shanghai';
const MINUTE = 60_000;

type Roster = Map<string, ParticipantRole>;

@Injectable()
export class InterviewsService {
  constructor(
    private readonly db: TransactionHost,
    private readonly repository: InterviewsRepository,
    private readonly clock: Clock,
    private readonly notifier: InterviewNotifier,
    private readonly runtime: RuntimeSettings,
    private readonly mappings: UserMappingsService,
    private readonly history: MessageHistoryService,
  ) {}

  async create(dto: CreateInterviewDto, user: AuthUser): Promise<InterviewDetailsDto> {
    const now = this.clock.now();
    const startsAt = this.futureStart(dto.startsAt, now);
    const roster = rosterOf(dto.interviewers, dto.observers ?? [], dto.candidate.platformUserId);
    if (!roster.has(user.id)) roster.set(user.id, 'recruiter');
    const candidateId = dto.candidate.platformUserId;
    if (candidateId && !roster.has(candidateId)) roster.set(candidateId, 'candidate');

    return this.db.transaction(async () => {
      // The people's mappings, read once for their languages, their messages' recipients and the
      // answer's reachability.
      const read = await this.readMembers([...roster.keys()]);
      // One statement for the interview, its people and its reminders, each row answered by the
      // statement that writes it (RETURNING): no read-backs.
      const booked = await this.repository.book({
        interview: {
          title: dto.title,
          position: dto.position ?? null,
          candidateName: dto.candidate.name,
          candidateEmail: dto.candidate.email ?? null,
          candidatePhone: dto.candidate.phone ?? null,
          candidatePlatformUserId: candidateId ?? null,
          startsAt,
          durationMinutes: dto.durationMinutes,
          timezone: dto.timezone ?? DEFAULT_TIMEZONE,
          roomUrl: dto.roomUrl,
          status: 'scheduled',
          version: 1,
          createdBy: user.id,
          createdAt: now,
          updatedAt: now,
        },
        participants: [...roster].map(([platformUserId, role]) => ({ platformUserId, role })),
        reminders: await this.reminderPlan(startsAt, dto.durationMinutes, now),
      });
      await this.notifier.booked(booked.interview, booked.participants, user.id, read);
      return this.present(booked.interview, booked.participants, booked.reminders, read);
    });
  }

  async list(query: ListInterviewsQueryDto, user: AuthUser): Promise<Page<InterviewDto>> {
    const own = !seesEverything(user);
    const page = await this.repository.page({
      participant: own ? user.id : query.participant,
      // Their own list leaves out interviews where they are the candidate (see visible()).
      panelOnly: own,
      from: query.from,
      to: query.to,
      status: query.status,
      cursor: query.cursor,
      limit: query.limit,
    });
    return { items: page.items.map(toInterviewDto), nextCursor: page.nextCursor };
  }

  /**
   * One transaction, and one statement for the interview with its people and reminders: a lone
   * read was three transactions of four statements each, plus the mappings' (issue #15).
   */
  async get(id: string, user: AuthUser): Promise<InterviewDetailsDto> {
    const everything = seesEverything(user);
    return this.db.transaction(async () => {
      const found = await this.repository.findWithDetails(id, everything ? null : user.id);
      // Same answer whether it does not exist or is not theirs: existence is not leaked.
      if (!found || !(everything || found.onPanel)) {
        throw new NotFoundException('Interview not found');
      }
      return this.present(found.interview, found.participants, found.reminders);
    });
  }

  /** The interview's messages, oldest first: messaging keeps them under the interview id. */
  async messages(id: string, user: AuthUser): Promise<MessageDto[]> {
    await this.visible(id, user);
    return this.history.ofGroup(id);
  }

  async update(
    id: string,
    dto: UpdateInterviewDto,
    ifMatch: string | undefined,
    user: AuthUser,
  ): Promise<InterviewDetailsDto> {
    const expected = expectedVersion(ifMatch, dto.version);
    const now = this.clock.now();
    return this.db.transaction(async () => {
      const iv = await this.lockScheduled(id, expected);
      const participants = await this.repository.participantsOf(id);

      const startsAt =
        dto.startsAt != null && new Date(dto.startsAt).getTime() !== iv.startsAt.getTime()
          ? this.futureStart(dto.startsAt, now)
          : iv.startsAt;
      const next = {
        title: dto.title ?? iv.title,
        position: dto.position === undefined ? iv.position : dto.position,
        startsAt,
        durationMinutes: dto.durationMinutes ?? iv.durationMinutes,
        timezone: dto.timezone ?? iv.timezone,
        roomUrl: dto.roomUrl ?? iv.roomUrl,
      };
      const timeChanged =
        next.startsAt.getTime() !== iv.startsAt.getTime() ||
        next.durationMinutes !== iv.durationMinutes ||
        next.timezone !== iv.timezone;
      const detailsChanged =
        next.title !== iv.title || next.position !== iv.position || next.roomUrl !== iv.roomUrl;

      const byRole = (role: ParticipantRole) =>
        participants.filter((p) => p.role === role).map((p) => p.platformUserId);
      const wanted = rosterOf(
        dto.interviewers ?? byRole('interviewer'),
        dto.observers ?? byRole('observer'),
        iv.candidatePlatformUserId ?? undefined,
      );
      const invitee = (p: InterviewParticipantEntity) =>
        p.role === 'interviewer' || p.role === 'observer';
      const removed = participants.filter((p) => invitee(p) && !wanted.has(p.platformUserId));
      const added = [...wanted]
        .filter(([pid]) => {
          const old = participants.find((p) => p.platformUserId === pid);
          return !old || !invitee(old);
        })
        .map(([platformUserId]) => ({ platformUserId }));
      const moved = participants.filter(
        (p) =>
          invitee(p) && wanted.has(p.platformUserId) && wanted.get(p.platformUserId) !== p.role,
      );

      const nothing =
        !timeChanged && !detailsChanged && !removed.length && !added.length && !moved.length;
      if (nothing) return this.details(iv, participants);

      const before = {
        title: iv.title,
        position: iv.position,
        startsAt: iv.startsAt,
        durationMinutes: iv.durationMinutes,
        timezone: iv.timezone,
        roomUrl: iv.roomUrl,
      };
      await this.repository.update(id, { ...next, version: iv.version + 1, updatedAt: now });
      for (const p of removed) {
        await this.repository.removeParticipant(id, p.platformUserId);
      }
      for (const p of moved) {
        await this.repository.setRole(id, p.platformUserId, wanted.get(p.platformUserId)!);
      }
      for (const p of added) {
        await this.repository.invite(id, p.platformUserId, wanted.get(p.platformUserId)!, now);
      }
      const updated = await this.repository.findOrFail(id);
      if (timeChanged) {
        // Reminders follow the new time; one already sent for the old time is not repeated
        // unless its lead time is still ahead (the "inside a lead time" rule).
        await this.repository.deleteReminders(id);
        const plan = await this.reminderPlan(updated.startsAt, updated.durationMinutes, now);
        if (plan.length > 0) {
          await this.repository.addReminders(
            plan.map((r) => ({ ...r, interviewId: id, state: 'pending', createdAt: now })),
          );
        }
      }
      const addedIds = new Set(added.map((p) => p.platformUserId));
      const after = await this.repository.participantsOf(id);
      // Everyone's mappings, before and after, read once for the notices and the answer.
      const read = await this.readMembers([
        ...new Set([...participants, ...after].map((p) => p.platformUserId)),
      ]);
      await this.notifier.changed(
        updated,
        {
          before,
          timeChanged,
          detailsChanged,
          added: after.filter((p) => addedIds.has(p.platformUserId)),
          removed,
          remaining: after.filter((p) => !addedIds.has(p.platformUserId)),
        },
        user.id,
        read,
      );
      return this.details(updated, after, read);
    });
  }

  async cancel(id: string, dto: CancelInterviewDto, user: AuthUser): Promise<InterviewDetailsDto> {
    const now = this.clock.now();
    return this.db.transaction(async () => {
      const iv = await this.lockScheduled(id);
      await this.repository.update(id, {
        status: 'canceled',
        cancelReason: dto.reason ?? null,
        version: iv.version + 1,
        updatedAt: now,
      });
      await this.repository.cancelPendingReminders(id, now);
      const canceled = await this.repository.findOrFail(id);
      const participants = await this.repository.participantsOf(id);
      const read = await this.readMembers(participants.map((p) => p.platformUserId));
      await this.notifier.canceled(canceled, participants, user.id, read);
      return this.details(canceled, participants, read);
    });
  }

  /**
   * An interviewer's or observer's answer to the invitation. Shared with the WeCom card
   * callback, so answering twice the same way is a no-op.
   */
  async respond(
    interviewId: string,
    platformUserId: string,
    response: RsvpResponse,
  ): Promise<ParticipantDto> {
    return this.db.transaction(async () => {
      const iv = await this.repository.find(interviewId);
      const p = iv ? await this.repository.lockParticipant(interviewId, platformUserId) : null;
      if (!iv || !p) throw new NotFoundException('Interview not found');
      if (p.role !== 'interviewer' && p.role !== 'observer') {
        throw new ForbiddenException('Only interviewers and observers answer an invitation');
      }
      if (iv.status !== 'scheduled') {
        throw new ConflictException(`Interview is ${iv.status}; there is nothing to answer`);
      }
      if (p.rsvp !== response) {
        p.rsvp = response;
        p.respondedAt = this.clock.now();
        await this.repository.setRsvp(interviewId, platformUserId, p.rsvp, p.respondedAt);
        await this.notifier.responded(iv, p, await this.repository.participantsOf(interviewId));
      }
      return toParticipantDto(p, await this.mappingStatuses([p.platformUserId]));
    });
  }

  /**
   * Recruiters and admins see every interview; anyone else only those they take part in on the
   * panel's side (not as its candidate: they would see the panel, its answers and reminders).
   */
  private async visible(id: string, user: AuthUser): Promise<InterviewEntity> {
    const iv = await this.repository.find(id);
    const allowed = iv && (seesEverything(user) || (await this.repository.isOnPanel(id, user.id)));
    // Same answer whether it does not exist or is not theirs: existence is not leaked.
    if (!iv || !allowed) throw new NotFoundException('Interview not found');
    return iv;
  }

  /** The row under FOR UPDATE, so a version check and the write that follows are one step. */
  private async lockScheduled(id: string, expected?: ExpectedVersion): Promise<InterviewEntity> {
    const iv = await this.repository.lock(id);
    if (!iv) throw new NotFoundException('Interview not found');
    if (iv.status !== 'scheduled') {
      throw new ConflictException(`Interview is already ${iv.status}`);
    }
    if (expected !== undefined && expected.version !== iv.version) {
      const stale = staleVersion('Interview', expected.version, iv.version);
      // A stale If-Match is a failed precondition (its own problem type); a stale body version
      // is the conflict it always was.
      throw expected.from === 'if-match'
        ? new PreconditionFailedException(stale)
        : new ConflictException({ ...stale, type: ProblemType.versionConflict });
    }
    return iv;
  }

  private futureStart(raw: string, now: Date): Date {
    const startsAt = new Date(raw);
    if (startsAt.getTime() <= now.getTime()) {
      throw fieldProblem(
        'startsAt',
        `startsAt must be in the future (got ${raw}; it is now ${now.toISOString()})`,
      );
    }
    return startsAt;
  }

  /**
   * The reminders of an interview at this time. Lead times already passed get no reminder: a late
   * booking is not reminded "24 h before".
   */
  private async reminderPlan(
    startsAt: Date,
    durationMinutes: number,
    now: Date,
  ): Promise<NewBooking['reminders']> {
    const plan: NewBooking['reminders'] = [];
    // The admin configuration in force now; bookings made earlier keep the reminders they got.
    const { reminderLeadTimesMin, feedbackNudgeMin } = (await this.runtime.current()).options;
    for (const lead of reminderLeadTimesMin) {
      const dueAt = new Date(startsAt.getTime() - lead * MINUTE);
      if (dueAt.getTime() > now.getTime()) {
        plan.push({ kind: 'before_start', leadMinutes: lead, dueAt });
      }
    }
    if (feedbackNudgeMin > 0) {
      const end = startsAt.getTime() + durationMinutes * MINUTE;
      plan.push({
        kind: 'feedback',
        leadMinutes: feedbackNudgeMin,
        dueAt: new Date(end + feedbackNudgeMin * MINUTE),
      });
    }
    return plan;
  }

  /** Whether each participant can be reached in WeCom: their mapping's status, if mapped. */
  private async mappingStatuses(
    platformUserIds: string[],
    read?: MembersRead,
  ): Promise<Map<string, MappingStatus>> {
    const { corpId } = await this.runtime.current();
    const members = answersFor(read, corpId, platformUserIds)
      ? read.members
      : await this.mappings.membersOf(corpId, platformUserIds);
    return new Map([...members].map(([id, m]) => [id, m.status]));
  }

  /**
   * These people's mappings, read once in the open transaction for what its notices and its
   * answer need of them (languages, recipients, reachability).
   */
  private async readMembers(platformUserIds: string[]): Promise<MembersRead> {
    const { corpId } = await this.runtime.current();
    const members = await this.mappings.membersOf(corpId, platformUserIds);
    return { corpId, asked: new Set(platformUserIds), members };
  }

  private async details(
    iv: InterviewEntity,
    participants: InterviewParticipantEntity[],
    read?: MembersRead,
  ): Promise<InterviewDetailsDto> {
    return this.present(iv, participants, await this.repository.remindersOf(iv.id), read);
  }

  private async present(
    iv: InterviewEntity,
    participants: InterviewParticipantEntity[],
    reminders: InterviewReminderEntity[],
    read?: MembersRead,
  ): Promise<InterviewDetailsDto> {
    const statuses = await this.mappingStatuses(
      participants.map((p) => p.platformUserId),
      read,
    );
    const people = participants.map((p) => toParticipantDto(p, statuses));
    return {
      interview: toInterviewDto(iv),
      participants: people,
      reminders: reminders.map(toReminderDto),
      unreachable: people.flatMap(unreachable),
    };
  }
}

function seesEverything(user: AuthUser): boolean {
  return user.roles.includes('admin') || user.roles.includes('recruiter');
}

/** Interviewers and observers, checked for overlaps the DTO cannot see. */
function rosterOf(
  interviewers: string[],
  observers: string[],
  candidate: string | undefined,
): Roster {
  const roster: Roster = new Map();
  for (const id of interviewers) roster.set(id, 'interviewer');
  const both = observers.filter((id) => roster.has(id));
  if (both.length > 0) {
    throw fieldProblem(
      'observers',
      `observers must not repeat an interviewer (${both.join(', ')} is listed as both)`,
    );
  }
  for (const id of observers) roster.set(id, 'observer');
  if (candidate && roster.has(candidate)) {
    throw fieldProblem(
      'candidate.platformUserId',
      `candidate.platformUserId ${candidate} cannot also be an interviewer or observer`,
    );
  }
  return roster;
}

/** Who will not get WeCom notices, with the reason a recruiter can act on. */
function unreachable(p: ParticipantDto): UnreachableParticipantDto[] {
  if (p.wecom === 'active') return [];
  const { platformUserId, role } = p;
  if (p.wecom === 'unmapped') {
    return [
      {
        platformUserId,
        role,
        reason: 'no_mapping',
        detail: 'No WeCom member is mapped to this user; map one to notify them',
      },
    ];
  }
  const why = p.wecom === 'left' ? 'left the WeCom corp' : 'is disabled in WeCom';
  return [
    {
      platformUserId,
      role,
      reason: 'inactive_mapping',
      detail: `The mapped WeCom member ${why}; map an active member to notify them`,
    },
  ];
}

/** The version a change is based on, and where the caller said it. */
interface ExpectedVersion {
  version: number;
  /** If-Match: a stale one is 412 Precondition Failed; a stale body `version` stays 409. */
  from: 'if-match' | 'body';
}

/** `If-Match: "3"` (or 3, or W/"3"), or `version` in the body; both must agree. */
function expectedVersion(
  ifMatch: string | undefined,
  body: number | undefined,
): ExpectedVersion | undefined {
  const header = ifMatchVersion(ifMatch, 'interview');
  if (header !== undefined && body !== undefined && header !== body) {
    throw fieldProblem(
      'version',
      `If-Match (${header}) and version (${body}) disagree; send one of them`,
    );
  }
  if (header !== undefined) return { version: header, from: 'if-match' };
  return body === undefined ? undefined : { version: body, from: 'body' };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toInterviewDto(iv: InterviewEntity): InterviewDto {
  return {
    id: iv.id,
    title: iv.title,
    position: iv.position,
    candidate: {
      name: iv.candidateName,
      email: iv.candidateEmail,
      phone: iv.candidatePhone,
      platformUserId: iv.candidatePlatformUserId,
    },
    startsAt: iv.startsAt.toISOString(),
    endsAt: new Date(iv.startsAt.getTime() + iv.durationMinutes * MINUTE).toISOString(),
    localStartsAt: localTime(iv.startsAt, iv.timezone),
    durationMinutes: iv.durationMinutes,
    timezone: iv.timezone,
    roomUrl: iv.roomUrl,
    status: iv.status,
    cancelReason: iv.cancelReason,
    version: iv.version,
    createdBy: iv.createdBy,
    createdAt: iv.createdAt.toISOString(),
    updatedAt: iv.updatedAt.toISOString(),
  };
}

function toParticipantDto(
  p: InterviewParticipantEntity,
  mappings: Map<string, MappingStatus>,
): ParticipantDto {
  return {
    platformUserId: p.platformUserId,
    role: p.role,
    rsvp: p.rsvp,
    respondedAt: iso(p.respondedAt),
    wecom: mappings.get(p.platformUserId) ?? 'unmapped',
  };
}

function toReminderDto(r: InterviewReminderEntity): ReminderDto {
  return {
    id: r.id,
    kind: r.kind,
    leadMinutes: r.leadMinutes,
    dueAt: r.dueAt.toISOString(),
    state: r.state,
    messageId: r.messageId,
    processedAt: iso(r.processedAt),
  };
}

/** A 400 about one field, listed in the problem's `errors` as the pipe's are. */
function fieldProblem(field: string, message: string): ValidationProblemException {
  return new ValidationProblemException([{ field, message }]);
}
