import { Injectable } from '@nestjs/common';
import { In, Not } from 'typeorm';

import { decodeCursor, toPage, type Page } from '../common/cursor.js';
import { TransactionHost } from '../database/transaction-host.js';
import {
  InterviewParticipantEntity,
  type ParticipantRole,
  type Rsvp,
} from './interview-participant.entity.js';
import {
  InterviewReminderEntity,
  type ReminderKind,
  type ReminderState,
} from './interview-reminder.entity.js';
import { InterviewEntity, type InterviewStatus } from './interview.entity.js';

/**
 * What is due now in the transaction's organisation (stated, not left to row-level security:
 * the reminders claimed here are queued as that organisation's messages): pending and past its
 * time, oldest first, skipping rows another instance has claimed. Served by the partial index
 * interview_reminders_due_idx. `superseded`: a shorter
 * lead time of the same interview is due too (the service was down), so this one is stale.
 */
export const DUE_REMINDERS_SQL = `
  SELECT r.id, r.interview_id, r.kind, r.lead_minutes,
         EXISTS (SELECT 1 FROM interview_reminders o
                  WHERE o.interview_id = r.interview_id AND o.kind = r.kind
                    AND o.lead_minutes < r.lead_minutes AND o.due_at <= $1) AS superseded
    FROM interview_reminders r
   WHERE r.organization_id = nullif(current_setting('app.organization_id', true), '')::uuid
     AND r.state = 'pending' AND r.due_at <= $1
   ORDER BY r.due_at
   LIMIT $2
   FOR UPDATE OF r SKIP LOCKED`;

/**
 * The transaction's organisation's earliest pending reminder that no other instance is claiming
 * right now (a claim's rows are locked until its transaction ends). Served by the same partial
 * index.
 */
const NEXT_DUE_SQL = `
  SELECT due_at FROM interview_reminders
   WHERE organization_id = nullif(current_setting('app.organization_id', true), '')::uuid
     AND state = 'pending'
   ORDER BY due_at
   LIMIT 1
   FOR UPDATE SKIP LOCKED`;

/** Every outcome of a claimed batch in one statement (a batch is up to 100 reminders). */
const RECORD_OUTCOMES_SQL = `
  UPDATE interview_reminders r
     SET state = o.state, message_id = o.message_id, processed_at = $4
    FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS o(id, state, message_id)
   WHERE r.id = o.id`;

/** The columns of interviews, as the row maps to an InterviewEntity. */
const INTERVIEW_COLUMNS = `id, organization_id, title, position, candidate_name, candidate_email,
  candidate_phone, candidate_platform_user_id, starts_at, duration_minutes, timezone, room_url,
  status, cancel_reason, version, created_by, created_at, updated_at`;
const PARTICIPANT_COLUMNS = `interview_id, platform_user_id, organization_id, role, rsvp,
  responded_at, created_at`;
const REMINDER_COLUMNS = `id, organization_id, interview_id, kind, lead_minutes, due_at, state,
  message_id, processed_at, created_at`;

/**
 * An interview, its participants (oldest first) and its reminders (soonest first) in one
 * statement, and whether $2 is on its panel (any role but candidate). Row-level security limits
 * all three tables to the transaction's organisation, as for any other read.
 */
const DETAILS_SQL = `
  SELECT i.*,
         EXISTS (SELECT 1 FROM interview_participants p
                  WHERE p.interview_id = i.id AND p.platform_user_id = $2
                    AND p.role <> 'candidate') AS on_panel,
         (SELECT coalesce(json_agg(p ORDER BY p.created_at, p.platform_user_id), '[]')
            FROM (SELECT ${PARTICIPANT_COLUMNS} FROM interview_participants
                   WHERE interview_id = i.id) p) AS participants,
         (SELECT coalesce(json_agg(r ORDER BY r.due_at), '[]')
            FROM (SELECT ${REMINDER_COLUMNS} FROM interview_reminders
                   WHERE interview_id = i.id) r) AS reminders
    FROM (SELECT ${INTERVIEW_COLUMNS} FROM interviews WHERE id = $1) i`;

/**
 * A booking in one statement: the interview ($1-$15), its participants ($16-$17, one element
 * each) and its reminders ($18-$20), the children taking the id the interview's insert made, all
 * answered as DETAILS_SQL answers them. Foreign keys are checked at the statement's end, when the
 * interview is there.
 */
const BOOK_SQL = `
  WITH i AS (
    INSERT INTO interviews (title, position, candidate_name, candidate_email, candidate_phone,
                            candidate_platform_user_id, starts_at, duration_minutes, timezone,
                            room_url, status, version, created_by, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
    RETURNING ${INTERVIEW_COLUMNS}
  ), p AS (
    INSERT INTO interview_participants (interview_id, platform_user_id, role, created_at)
    SELECT i.id, t.platform_user_id, t.role, i.created_at
      FROM i, unnest($16::text[], $17::text[]) AS t(platform_user_id, role)
    RETURNING ${PARTICIPANT_COLUMNS}
  ), r AS (
    INSERT INTO interview_reminders (interview_id, kind, lead_minutes, due_at, state, created_at)
    SELECT i.id, t.kind, t.lead_minutes, t.due_at, 'pending', i.created_at
      FROM i, unnest($18::text[], $19::int[], $20::timestamptz[]) AS t(kind, lead_minutes, due_at)
    RETURNING ${REMINDER_COLUMNS}
  )
  SELECT i.*,
         (SELECT coalesce(json_agg(p ORDER BY p.created_at, p.platform_user_id), '[]') FROM p)
           AS participants,
         (SELECT coalesce(json_agg(r ORDER BY r.due_at), '[]') FROM r) AS reminders
    FROM i`;

/** Timestamps are Dates from a column, ISO strings from json_agg. */
type Timestamp = Date | string;

interface InterviewRow {
  id: string;
  organization_id: string;
  title: string;
  position: string | null;
  candidate_name: string;
  candidate_email: string | null;
  candidate_phone: string | null;
  candidate_platform_user_id: string | null;
  starts_at: Date;
  duration_minutes: number;
  timezone: string;
  room_url: string;
  status: InterviewStatus;
  cancel_reason: string | null;
  version: number;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

interface ParticipantRow {
  interview_id: string;
  platform_user_id: string;
  organization_id: string;
  role: ParticipantRole;
  rsvp: Rsvp;
  responded_at: Timestamp | null;
  created_at: Timestamp;
}

interface ReminderRow {
  id: string;
  organization_id: string;
  interview_id: string;
  kind: ReminderKind;
  lead_minutes: number;
  due_at: Timestamp;
  state: ReminderState;
  message_id: string | null;
  processed_at: Timestamp | null;
  created_at: Timestamp;
}

export interface InterviewWithDetails {
  interview: InterviewEntity;
  participants: InterviewParticipantEntity[];
  reminders: InterviewReminderEntity[];
  /** Whether the user asked about takes part on the panel's side. */
  onPanel: boolean;
}

const dateOrNull = (t: Timestamp | null) => (t === null ? null : new Date(t));

/** Rows map straight to the entities: the reads skip TypeORM's hydration (issue #15). */
function toInterview(row: InterviewRow): InterviewEntity {
  return {
    id: row.id,
    organizationId: row.organization_id,
    title: row.title,
    position: row.position,
    candidateName: row.candidate_name,
    candidateEmail: row.candidate_email,
    candidatePhone: row.candidate_phone,
    candidatePlatformUserId: row.candidate_platform_user_id,
    startsAt: row.starts_at,
    durationMinutes: row.duration_minutes,
    timezone: row.timezone,
    roomUrl: row.room_url,
    status: row.status,
    cancelReason: row.cancel_reason,
    version: row.version,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toParticipant(row: ParticipantRow): InterviewParticipantEntity {
  return {
    interviewId: row.interview_id,
    platformUserId: row.platform_user_id,
    organizationId: row.organization_id,
    role: row.role,
    rsvp: row.rsvp,
    respondedAt: dateOrNull(row.responded_at),
    createdAt: new Date(row.created_at),
  };
}

function toReminder(row: ReminderRow): InterviewReminderEntity {
  return {
    id: row.id,
    organizationId: row.organization_id,
    interviewId: row.interview_id,
    kind: row.kind,
    leadMinutes: row.lead_minutes,
    dueAt: new Date(row.due_at),
    state: row.state,
    messageId: row.message_id,
    processedAt: dateOrNull(row.processed_at),
    createdAt: new Date(row.created_at),
  };
}

export interface DueReminder {
  id: string;
  interviewId: string;
  kind: ReminderKind;
  leadMinutes: number;
  superseded: boolean;
}

export interface ReminderOutcome {
  id: string;
  state: Exclude<ReminderState, 'pending'>;
  messageId: string | null;
}

/** An interview as first written (its organisation is the transaction's). */
export type NewInterview = Omit<
  InterviewEntity,
  'id' | 'organizationId' | 'organization' | 'cancelReason'
>;
export type NewReminder = Pick<
  InterviewReminderEntity,
  'interviewId' | 'kind' | 'leadMinutes' | 'dueAt' | 'state' | 'createdAt'
>;

/**
 * An interview as booked, with its people and its pending reminders; they take the interview's
 * id and creation time.
 */
export interface NewBooking {
  interview: NewInterview;
  participants: Pick<InterviewParticipantEntity, 'platformUserId' | 'role'>[];
  reminders: Pick<InterviewReminderEntity, 'kind' | 'leadMinutes' | 'dueAt'>[];
}

export interface InterviewFilter {
  /** Interviews this platform user takes part in. */
  participant?: string;
  /** Leave out those where `participant` is the candidate. */
  panelOnly?: boolean;
  from?: Date;
  to?: Date;
  status?: InterviewStatus;
  cursor?: string;
  limit: number;
}

/**
 * The interviews module's tables: interviews, interview_participants, interview_reminders.
 * Every method runs in the caller's TransactionHost transaction when one is open.
 */
@Injectable()
export class InterviewsRepository {
  constructor(private readonly db: TransactionHost) {}

  /**
   * Writes a booking in one statement (BOOK_SQL): the interview, its participants and its
   * reminders, answered with the columns the database filled in (RETURNING), participants as
   * participantsOf orders them and reminders as remindersOf does.
   */
  async book(booking: NewBooking): Promise<Omit<InterviewWithDetails, 'onPanel'>> {
    const iv = booking.interview;
    const [row]: (InterviewRow & {
      participants: ParticipantRow[];
      reminders: ReminderRow[];
    })[] = await this.db.run((m) =>
      m.query(BOOK_SQL, [
        iv.title,
        iv.position,
        iv.candidateName,
        iv.candidateEmail,
        iv.candidatePhone,
        iv.candidatePlatformUserId,
        iv.startsAt,
        iv.durationMinutes,
        iv.timezone,
        iv.roomUrl,
        iv.status,
        iv.version,
        iv.createdBy,
        iv.createdAt,
        iv.updatedAt,
        booking.participants.map((p) => p.platformUserId),
        booking.participants.map((p) => p.role),
        booking.reminders.map((r) => r.kind),
        booking.reminders.map((r) => r.leadMinutes),
        booking.reminders.map((r) => r.dueAt),
      ]),
    );
    return {
      interview: toInterview(row),
      participants: row.participants.map(toParticipant),
      reminders: row.reminders.map(toReminder),
    };
  }

  find(id: string): Promise<InterviewEntity | null> {
    return this.db.run((m) => m.findOneBy(InterviewEntity, { id }));
  }

  /**
   * The interview, its participants and its reminders in one statement (DETAILS_SQL), mapped
   * straight from the row, and whether `panelMember` is on its panel; null when there is none.
   */
  async findWithDetails(
    id: string,
    panelMember: string | null,
  ): Promise<InterviewWithDetails | null> {
    const [row]: (InterviewRow & {
      on_panel: boolean;
      participants: ParticipantRow[];
      reminders: ReminderRow[];
    })[] = await this.db.run((m) => m.query(DETAILS_SQL, [id, panelMember]));
    if (!row) return null;
    return {
      interview: toInterview(row),
      onPanel: row.on_panel,
      participants: row.participants.map(toParticipant),
      reminders: row.reminders.map(toReminder),
    };
  }

  findOrFail(id: string): Promise<InterviewEntity> {
    return this.db.run((m) => m.findOneByOrFail(InterviewEntity, { id }));
  }

  findMany(ids: string[]): Promise<InterviewEntity[]> {
    return this.db.run((m) => m.findBy(InterviewEntity, { id: In(ids) }));
  }

  /** The row under FOR UPDATE, so a version check and the write that follows are one step. */
  lock(id: string): Promise<InterviewEntity | null> {
    return this.db.run((m) =>
      m.findOne(InterviewEntity, {
        where: { id },
        lock: { mode: 'pessimistic_write' },
      }),
    );
  }

  async update(id: string, patch: Partial<Omit<InterviewEntity, 'id'>>): Promise<void> {
    await this.db.run((m) => m.update(InterviewEntity, { id }, patch));
  }

  /**
   * One page, newest first, of the interviews the filter selects: keyset pagination over
   * (created_at, id) as pageNewestFirst's, in SQL of its own so the rows map straight to the
   * entities without TypeORM's hydration (a page is up to 200 rows).
   */
  page(filter: InterviewFilter): Promise<Page<InterviewEntity>> {
    const params: unknown[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    const where: string[] = [];
    if (filter.participant) {
      const side = filter.panelOnly ? ` AND p.role <> 'candidate'` : '';
      where.push(
        `EXISTS (SELECT 1 FROM interview_participants p WHERE p.interview_id = i.id AND p.platform_user_id = ${param(filter.participant)}${side})`,
      );
    }
    if (filter.from) where.push(`i.starts_at >= ${param(filter.from)}`);
    if (filter.to) where.push(`i.starts_at < ${param(filter.to)}`);
    if (filter.status) where.push(`i.status = ${param(filter.status)}`);
    const cursor = decodeCursor(filter.cursor);
    if (cursor) {
      where.push(`(i.created_at, i.id) < (${param(cursor.createdAt)}, ${param(cursor.id)})`);
    }
    const sql = `SELECT ${INTERVIEW_COLUMNS} FROM interviews i
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY i.created_at DESC, i.id DESC
      LIMIT ${param(filter.limit + 1)}`;
    return this.db.run(async (m) => {
      const rows: InterviewRow[] = await m.query(sql, params);
      return toPage(rows.map(toInterview), filter.limit, (iv) => iv);
    });
  }

  /** Whether the user takes part on the panel's side (any role but candidate). */
  isOnPanel(interviewId: string, platformUserId: string): Promise<boolean> {
    return this.db.run((m) =>
      m.existsBy(InterviewParticipantEntity, {
        interviewId,
        platformUserId,
        role: Not('candidate'),
      }),
    );
  }

  participantsOf(interviewId: string): Promise<InterviewParticipantEntity[]> {
    return this.db.run((m) =>
      m.find(InterviewParticipantEntity, {
        where: { interviewId },
        order: { createdAt: 'ASC', platformUserId: 'ASC' },
      }),
    );
  }

  participantsOfMany(interviewIds: string[]): Promise<InterviewParticipantEntity[]> {
    return this.db.run((m) =>
      m.findBy(InterviewParticipantEntity, { interviewId: In(interviewIds) }),
    );
  }

  /** The participant's row under FOR UPDATE: two answers at once are applied one after the other. */
  lockParticipant(
    interviewId: string,
    platformUserId: string,
  ): Promise<InterviewParticipantEntity | null> {
    return this.db.run((m) =>
      m.findOne(InterviewParticipantEntity, {
        where: { interviewId, platformUserId },
        lock: { mode: 'pessimistic_write' },
      }),
    );
  }

  /**
   * Puts someone (back) on the panel with a fresh, unanswered invitation; a row left from an
   * earlier role (e.g. the recruiter's) is taken over.
   */
  async invite(
    interviewId: string,
    platformUserId: string,
    role: ParticipantRole,
    now: Date,
  ): Promise<void> {
    await this.db.run((m) =>
      m.upsert(
        InterviewParticipantEntity,
        {
          interviewId,
          platformUserId,
          role,
          rsvp: 'pending',
          respondedAt: null,
          createdAt: now,
        },
        ['interviewId', 'platformUserId'],
      ),
    );
  }

  async removeParticipant(interviewId: string, platformUserId: string): Promise<void> {
    await this.db.run((m) => m.delete(InterviewParticipantEntity, { interviewId, platformUserId }));
  }

  async setRole(interviewId: string, platformUserId: string, role: ParticipantRole): Promise<void> {
    await this.db.run((m) =>
      m.update(InterviewParticipantEntity, { interviewId, platformUserId }, { role }),
    );
  }

  async setRsvp(
    interviewId: string,
    platformUserId: string,
    rsvp: Rsvp,
    respondedAt: Date | null,
  ): Promise<void> {
    await this.db.run((m) =>
      m.update(InterviewParticipantEntity, { interviewId, platformUserId }, { rsvp, respondedAt }),
    );
  }

  remindersOf(interviewId: string): Promise<InterviewReminderEntity[]> {
    return this.db.run((m) =>
      m.find(InterviewReminderEntity, {
        where: { interviewId },
        order: { dueAt: 'ASC' },
      }),
    );
  }

  /** Inserts reminders; answers them as remindersOf orders them. */
  async addReminders(rows: NewReminder[]): Promise<InterviewReminderEntity[]> {
    const result = await this.db.run((m) =>
      m
        .createQueryBuilder()
        .insert()
        .into(InterviewReminderEntity)
        .values(rows)
        .returning(REMINDER_COLUMNS)
        .execute(),
    );
    return (result.raw as ReminderRow[]).map(toReminder).sort((a, b) => +a.dueAt - +b.dueAt);
  }

  async deleteReminders(interviewId: string): Promise<void> {
    await this.db.run((m) => m.delete(InterviewReminderEntity, { interviewId }));
  }

  /** A canceled interview's reminders that have not gone out never will. */
  async cancelPendingReminders(interviewId: string, now: Date): Promise<void> {
    await this.db.run((m) =>
      m.update(
        InterviewReminderEntity,
        { interviewId, state: 'pending' },
        { state: 'canceled', processedAt: now },
      ),
    );
  }

  /** Claims what is due (see DUE_REMINDERS_SQL): call inside a transaction, which holds the claim. */
  async claimDueReminders(now: Date, limit: number): Promise<DueReminder[]> {
    const rows: {
      id: string;
      interview_id: string;
      kind: ReminderKind;
      lead_minutes: number;
      superseded: boolean;
    }[] = await this.db.run((m) => m.query(DUE_REMINDERS_SQL, [now, limit]));
    return rows.map((r) => ({
      id: r.id,
      interviewId: r.interview_id,
      kind: r.kind,
      leadMinutes: r.lead_minutes,
      superseded: r.superseded,
    }));
  }

  /** When the next unclaimed pending reminder falls due, if any is pending. */
  async nextDueAt(): Promise<Date | null> {
    const [next]: { due_at: Date }[] = await this.db.run((m) => m.query(NEXT_DUE_SQL));
    return next ? new Date(next.due_at) : null;
  }

  async recordOutcomes(outcomes: ReminderOutcome[], processedAt: Date): Promise<void> {
    await this.db.run((m) =>
      m.query(RECORD_OUTCOMES_SQL, [
        outcomes.map((o) => o.id),
        outcomes.map((o) => o.state),
        outcomes.map((o) => o.messageId),
        processedAt,
      ]),
    );
  }

  /** When the reminders that these messages carried were due (for the reminder lag). */
  async reminderDueTimes(messageIds: string[]): Promise<Date[]> {
    const rows: { due_at: Date }[] = await this.db.run((m) =>
      m.query('SELECT due_at FROM interview_reminders WHERE message_id = ANY($1::uuid[])', [
        messageIds,
      ]),
    );
    return rows.map((r) => new Date(r.due_at));
  }
}
