import {
  BadRequestException,
  ConflictException,
  ForbiddenException,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Not, type DataSource, type EntityManager } from 'typeorm';

import type { AuthUser } from '../auth/roles.js';
import { Clock } from '../common/clock.js';
import { RuntimeSettings } from '../settings/runtime-settings.js';
import type { MappingStatus } from '../user-mappings/member.js';
import { UserMappingsService } from '../user-mappings/user-mappings.service.js';
import { pageNewestFirst, type Page } from '../common/cursor.js';
import { ProblemType } from '../common/problem-details.js';
import type { MessageDto } from '../messaging/dto/send-message.dto.js';
import { toMessageDto } from '../messaging/message-history.service.js';
import { MessageEntity } from '../messaging/message.entity.js';
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
  ReminderDto,
} from './dto/interview.dto.js';
import { InterviewNotifier } from './interview-notifier.js';
import {
  InterviewParticipantEntity,
  type ParticipantRole,
} from './interview-participant.entity.js';
import { InterviewReminderEntity } from './interview-reminder.entity.js';
import { localTime } from './interview-time.js';
import { InterviewEntity } from './interview.entity.js';

const DEFAULT_TIMEZONE = 'Asia/Shanghai';
const MINUTE = 60_000;

type Roster = Map<string, ParticipantRole>;

@Injectable()
export class InterviewsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly notifier: InterviewNotifier,
    private readonly runtime: RuntimeSettings,
    private readonly mappings: UserMappingsService,
  ) {}

  async create(dto: CreateInterviewDto, user: AuthUser): Promise<InterviewDetailsDto> {
    const now = this.clock.now();
    const startsAt = this.futureStart(dto.startsAt, now);
    const roster = rosterOf(dto.interviewers, dto.observers ?? [], dto.candidate.platformUserId);
    if (!roster.has(user.id)) roster.set(user.id, 'recruiter');
    const candidateId = dto.candidate.platformUserId;
    if (candidateId && !roster.has(candidateId)) roster.set(candidateId, 'candidate');

    return this.dataSource.transaction(async (tx) => {
      const inserted = await tx.insert(InterviewEntity, {
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
      });
      const id = (inserted.identifiers[0] as { id: string }).id;
      const iv = await tx.findOneByOrFail(InterviewEntity, { id });
      await tx.insert(
        InterviewParticipantEntity,
        [...roster].map(([platformUserId, role]) => ({
          interviewId: id,
          platformUserId,
          role,
          createdAt: now,
        })),
      );
      await this.planReminders(tx, iv, now);
      const participants = await this.participantsOf(tx, id);
      await this.notifier.booked(tx, iv, participants, user.id);
      return this.details(tx, iv, participants);
    });
  }

  async list(query: ListInterviewsQueryDto, user: AuthUser): Promise<Page<InterviewDto>> {
    const qb = this.dataSource.getRepository(InterviewEntity).createQueryBuilder('i');
    const own = !seesEverything(user);
    const participant = own ? user.id : query.participant;
    if (participant) {
      // Their own list leaves out interviews where they are the candidate (see visible()).
      const side = own ? ` AND p.role <> 'candidate'` : '';
      qb.andWhere(
        `EXISTS (SELECT 1 FROM interview_participants p WHERE p.interview_id = i.id AND p.platform_user_id = :participant${side})`,
        { participant },
      );
    }
    if (query.from) qb.andWhere('i.starts_at >= :from', { from: query.from });
    if (query.to) qb.andWhere('i.starts_at < :to', { to: query.to });
    if (query.status) qb.andWhere('i.status = :status', { status: query.status });
    return pageNewestFirst(qb, query, toInterviewDto);
  }

  async get(id: string, user: AuthUser): Promise<InterviewDetailsDto> {
    const em = this.dataSource.manager;
    const iv = await this.visible(em, id, user);
    return this.details(em, iv, await this.participantsOf(em, id));
  }

  async messages(id: string, user: AuthUser): Promise<MessageDto[]> {
    await this.visible(this.dataSource.manager, id, user);
    const rows = await this.dataSource
      .getRepository(MessageEntity)
      .find({ where: { groupKey: id }, order: { createdAt: 'ASC', id: 'ASC' } });
    return rows.map((m) => toMessageDto(m));
  }

  async update(
    id: string,
    dto: UpdateInterviewDto,
    ifMatch: string | undefined,
    user: AuthUser,
  ): Promise<InterviewDetailsDto> {
    const expected = expectedVersion(ifMatch, dto.version);
    const now = this.clock.now();
    return this.dataSource.transaction(async (tx) => {
      const iv = await this.lockScheduled(tx, id, expected);
      const participants = await this.participantsOf(tx, id);

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
      if (nothing) return this.details(tx, iv, participants);

      const before = {
        title: iv.title,
        position: iv.position,
        startsAt: iv.startsAt,
        durationMinutes: iv.durationMinutes,
        timezone: iv.timezone,
        roomUrl: iv.roomUrl,
      };
      await tx.update(
        InterviewEntity,
        { id },
        { ...next, version: iv.version + 1, updatedAt: now },
      );
      for (const p of removed) {
        await tx.delete(InterviewParticipantEntity, {
          interviewId: id,
          platformUserId: p.platformUserId,
        });
      }
      for (const p of moved) {
        await tx.update(
          InterviewParticipantEntity,
          { interviewId: id, platformUserId: p.platformUserId },
          { role: wanted.get(p.platformUserId)! },
        );
      }
      for (const p of added) {
        await tx.upsert(
          InterviewParticipantEntity,
          {
            interviewId: id,
            platformUserId: p.platformUserId,
            role: wanted.get(p.platformUserId)!,
            rsvp: 'pending',
            respondedAt: null,
            createdAt: now,
          },
          ['interviewId', 'platformUserId'],
        );
      }
      const updated = await tx.findOneByOrFail(InterviewEntity, { id });
      if (timeChanged) {
        // Reminders follow the new time; one already sent for the old time is not repeated
        // unless its lead time is still ahead (the "inside a lead time" rule).
        await tx.delete(InterviewReminderEntity, { interviewId: id });
        await this.planReminders(tx, updated, now);
      }
      const addedIds = new Set(added.map((p) => p.platformUserId));
      const after = await this.participantsOf(tx, id);
      await this.notifier.changed(
        tx,
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
      );
      return this.details(tx, updated, after);
    });
  }

  async cancel(id: string, dto: CancelInterviewDto, user: AuthUser): Promise<InterviewDetailsDto> {
    const now = this.clock.now();
    return this.dataSource.transaction(async (tx) => {
      const iv = await this.lockScheduled(tx, id);
      await tx.update(
        InterviewEntity,
        { id },
        {
          status: 'canceled',
          cancelReason: dto.reason ?? null,
          version: iv.version + 1,
          updatedAt: now,
        },
      );
      await tx.update(
        InterviewReminderEntity,
        { interviewId: id, state: 'pending' },
        { state: 'canceled', processedAt: now },
      );
      const canceled = await tx.findOneByOrFail(InterviewEntity, { id });
      const participants = await this.participantsOf(tx, id);
      await this.notifier.canceled(tx, canceled, participants, user.id);
      return this.details(tx, canceled, participants);
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
    return this.dataSource.transaction(async (tx) => {
      const iv = await tx.findOneBy(InterviewEntity, { id: interviewId });
      const p = iv
        ? await tx.findOne(InterviewParticipantEntity, {
            where: { interviewId, platformUserId },
            lock: { mode: 'pessimistic_write' },
          })
        : null;
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
        await tx.update(
          InterviewParticipantEntity,
          { interviewId, platformUserId },
          { rsvp: p.rsvp, respondedAt: p.respondedAt },
        );
        await this.notifier.responded(tx, iv, p, await this.participantsOf(tx, interviewId));
      }
      return toParticipantDto(p, await this.mappingStatuses([p.platformUserId]));
    });
  }

  /**
   * Recruiters and admins see every interview; anyone else only those they take part in on the
   * panel's side (not as its candidate: they would see the panel, its answers and reminders).
   */
  private async visible(em: EntityManager, id: string, user: AuthUser): Promise<InterviewEntity> {
    const iv = await em.findOneBy(InterviewEntity, { id });
    const allowed =
      iv &&
      (seesEverything(user) ||
        (await em.existsBy(InterviewParticipantEntity, {
          interviewId: id,
          platformUserId: user.id,
          role: Not('candidate'),
        })));
    // Same answer whether it does not exist or is not theirs: existence is not leaked.
    if (!iv || !allowed) throw new NotFoundException('Interview not found');
    return iv;
  }

  /** The row under FOR UPDATE, so a version check and the write that follows are one step. */
  private async lockScheduled(
    tx: EntityManager,
    id: string,
    expected?: number,
  ): Promise<InterviewEntity> {
    const iv = await tx.findOne(InterviewEntity, {
      where: { id },
      lock: { mode: 'pessimistic_write' },
    });
    if (!iv) throw new NotFoundException('Interview not found');
    if (iv.status !== 'scheduled') {
      throw new ConflictException(`Interview is already ${iv.status}`);
    }
    if (expected !== undefined && expected !== iv.version) {
      throw new ConflictException({
        type: ProblemType.versionConflict,
        message: `Interview changed since version ${expected} (now version ${iv.version}); reload it and try again`,
        version: iv.version,
      });
    }
    return iv;
  }

  private futureStart(raw: string, now: Date): Date {
    const startsAt = new Date(raw);
    if (startsAt.getTime() <= now.getTime()) {
      throw new BadRequestException(
        `startsAt must be in the future (got ${raw}; it is now ${now.toISOString()})`,
      );
    }
    return startsAt;
  }

  /** Lead times already passed get no reminder: a late booking is not reminded "24 h before". */
  private async planReminders(tx: EntityManager, iv: InterviewEntity, now: Date): Promise<void> {
    const rows: Pick<InterviewReminderEntity, 'interviewId' | 'kind' | 'leadMinutes' | 'dueAt'>[] =
      [];
    // The admin configuration in force now; bookings made earlier keep the reminders they got.
    const { reminderLeadTimesMin, feedbackNudgeMin } = this.runtime.current().options;
    for (const lead of reminderLeadTimesMin) {
      const dueAt = new Date(iv.startsAt.getTime() - lead * MINUTE);
      if (dueAt.getTime() > now.getTime()) {
        rows.push({ interviewId: iv.id, kind: 'before_start', leadMinutes: lead, dueAt });
      }
    }
    if (feedbackNudgeMin > 0) {
      const end = iv.startsAt.getTime() + iv.durationMinutes * MINUTE;
      rows.push({
        interviewId: iv.id,
        kind: 'feedback',
        leadMinutes: feedbackNudgeMin,
        dueAt: new Date(end + feedbackNudgeMin * MINUTE),
      });
    }
    if (rows.length > 0) {
      await tx.insert(
        InterviewReminderEntity,
        rows.map((r) => ({ ...r, state: 'pending' as const, createdAt: now })),
      );
    }
  }

  /** Whether each participant can be reached in WeCom: their mapping's status, if mapped. */
  private async mappingStatuses(platformUserIds: string[]): Promise<Map<string, MappingStatus>> {
    const members = await this.mappings.membersOf(this.runtime.current().corpId, platformUserIds);
    return new Map([...members].map(([id, m]) => [id, m.status]));
  }

  private participantsOf(em: EntityManager, id: string): Promise<InterviewParticipantEntity[]> {
    return em.find(InterviewParticipantEntity, {
      where: { interviewId: id },
      order: { createdAt: 'ASC', platformUserId: 'ASC' },
    });
  }

  private async details(
    em: EntityManager,
    iv: InterviewEntity,
    participants: InterviewParticipantEntity[],
  ): Promise<InterviewDetailsDto> {
    const reminders = await em.find(InterviewReminderEntity, {
      where: { interviewId: iv.id },
      order: { dueAt: 'ASC' },
    });
    const statuses = await this.mappingStatuses(participants.map((p) => p.platformUserId));
    return {
      interview: toInterviewDto(iv),
      participants: participants.map((p) => toParticipantDto(p, statuses)),
      reminders: reminders.map(toReminderDto),
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
    throw new BadRequestException(
      `observers must not repeat an interviewer (${both.join(', ')} is listed as both)`,
    );
  }
  for (const id of observers) roster.set(id, 'observer');
  if (candidate && roster.has(candidate)) {
    throw new BadRequestException(
      `candidate.platformUserId ${candidate} cannot also be an interviewer or observer`,
    );
  }
  return roster;
}

/** `If-Match: "3"` (or 3, or W/"3"), or `version` in the body; both must agree. */
function expectedVersion(
  ifMatch: string | undefined,
  body: number | undefined,
): number | undefined {
  let header: number | undefined;
  if (ifMatch !== undefined && ifMatch.trim() !== '' && ifMatch.trim() !== '*') {
    const m = /^(?:W\/)?"?(\d{1,9})"?$/.exec(ifMatch.trim());
    if (!m) throw new BadRequestException('If-Match must be the interview version, e.g. "3"');
    header = Number(m[1]);
  }
  if (header !== undefined && body !== undefined && header !== body) {
    throw new BadRequestException(
      `If-Match (${header}) and version (${body}) disagree; send one of them`,
    );
  }
  return header ?? body;
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
