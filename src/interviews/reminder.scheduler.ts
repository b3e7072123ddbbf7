import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { SchedulerRegistry } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import { In, type DataSource, type EntityManager } from 'typeorm';

import { Clock } from '../common/clock.js';
import { registerCronJob } from '../common/scheduled-job.js';
import type { AppConfigService } from '../config/app-config.js';
import { MessageContentError } from '../messaging/message-content.js';
import { InterviewNotifier } from './interview-notifier.js';
import { InterviewParticipantEntity } from './interview-participant.entity.js';
import type { ReminderKind, ReminderState } from './interview-reminder.entity.js';
import { InterviewEntity } from './interview.entity.js';

const BATCH = 100;
/** How far ahead a timer is set for the next reminder; later ones are left to the poll. */
const LOOKAHEAD_MS = 5 * 60_000;
/** The shortest timer: a reminder that fell due during a run is taken straight after it. */
const MIN_WAIT_MS = 10;

/**
 * What is due now: pending and past its time, oldest first, skipping rows another instance has
 * claimed. Served by the partial index interview_reminders_due_idx. `superseded`: a shorter
 * lead time of the same interview is due too (the service was down), so this one is stale.
 */
export const DUE_REMINDERS_SQL = `
  SELECT r.id, r.interview_id, r.kind, r.lead_minutes,
         EXISTS (SELECT 1 FROM interview_reminders o
                  WHERE o.interview_id = r.interview_id AND o.kind = r.kind
                    AND o.lead_minutes < r.lead_minutes AND o.due_at <= $1) AS superseded
    FROM interview_reminders r
   WHERE r.state = 'pending' AND r.due_at <= $1
   ORDER BY r.due_at
   LIMIT $2
   FOR UPDATE OF r SKIP LOCKED`;

/**
 * The earliest pending reminder that no other instance is claiming right now (a claim's rows
 * are locked until its transaction ends). Served by the same partial index.
 */
const NEXT_DUE_SQL = `
  SELECT due_at FROM interview_reminders
   WHERE state = 'pending'
   ORDER BY due_at
   LIMIT 1
   FOR UPDATE SKIP LOCKED`;

interface DueRow {
  id: string;
  interview_id: string;
  kind: ReminderKind;
  lead_minutes: number;
  superseded: boolean;
}

export type ReminderRun = Record<Exclude<ReminderState, 'pending'>, number>;

/**
 * Sends interview reminders when they fall due. Each batch is claimed and handed to the outbox
 * in one transaction, so a reminder is queued exactly once however many instances run this
 * and whenever one of them dies.
 *
 * The cron poll (REMINDER_POLL_CRON) finds what is due; after each run a timer is set for the
 * next pending reminder, so one is picked up at its due time rather than at the next poll. A
 * reminder written or moved after a run (a booking a few minutes out) waits for the next poll
 * at most.
 */
@Injectable()
export class ReminderScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ReminderScheduler.name);
  private timer?: NodeJS.Timeout;
  private running = false;
  private stopped = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly notifier: InterviewNotifier,
    private readonly registry: SchedulerRegistry,
    @Inject(ConfigService) private readonly config: AppConfigService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.get('CRON_ENABLED', { infer: true })) return;
    registerCronJob(
      this.registry,
      'interview-reminders',
      this.config.get('REMINDER_POLL_CRON', { infer: true }),
      () => this.poll(),
    );
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * What the cron poll and the timer run: everything due now, then a timer for the next pending
   * reminder. One at a time per instance.
   */
  async poll(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      await this.runOnce();
      await this.armForNext();
    } finally {
      this.running = false;
    }
  }

  private async armForNext(): Promise<void> {
    const [next]: { due_at: Date }[] = await this.dataSource.query(NEXT_DUE_SQL);
    if (!next || this.stopped) return;
    const wait = new Date(next.due_at).getTime() - this.clock.nowMs();
    if (wait > LOOKAHEAD_MS) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () =>
        void this.poll().catch((error: unknown) => {
          // A failing run waits for the next poll instead of retrying at once.
          this.logger.error(
            `reminder run failed: ${error instanceof Error ? error.message : String(error)}`,
          );
        }),
      Math.max(wait, MIN_WAIT_MS),
    );
    this.timer.unref();
  }

  /** Processes everything due now, batch by batch; specs call it after moving the clock. */
  async runOnce(): Promise<ReminderRun> {
    const total: ReminderRun = { sent: 0, missed: 0, canceled: 0 };
    for (;;) {
      const { run, claimed } = await this.dataSource.transaction((tx) => this.batch(tx));
      for (const k of Object.keys(total) as (keyof ReminderRun)[]) total[k] += run[k];
      if (claimed < BATCH) break;
    }
    if (total.missed > 0) this.logger.warn(`${total.missed} reminder(s) missed their time`);
    return total;
  }

  private async batch(tx: EntityManager): Promise<{ run: ReminderRun; claimed: number }> {
    const now = this.clock.now();
    const run: ReminderRun = { sent: 0, missed: 0, canceled: 0 };
    const due: DueRow[] = await tx.query(DUE_REMINDERS_SQL, [now, BATCH]);
    if (due.length === 0) return { run, claimed: 0 };

    const ids = [...new Set(due.map((r) => r.interview_id))];
    const interviews = new Map(
      (await tx.findBy(InterviewEntity, { id: In(ids) })).map((iv) => [iv.id, iv]),
    );
    const participants = await tx.findBy(InterviewParticipantEntity, { interviewId: In(ids) });
    const outcomes: { id: string; state: string; messageId: string | null }[] = [];

    for (const r of due) {
      const iv = interviews.get(r.interview_id)!;
      let state: Exclude<ReminderState, 'pending'>;
      let messageId: string | null = null;
      if (iv.status !== 'scheduled') {
        state = 'canceled';
      } else if (
        r.kind === 'before_start' &&
        (iv.startsAt.getTime() <= now.getTime() || r.superseded)
      ) {
        state = 'missed';
      } else {
        const to = participants.filter(
          (p) =>
            p.interviewId === iv.id &&
            p.rsvp !== 'declined' &&
            (r.kind === 'before_start' || p.role === 'interviewer'),
        );
        try {
          messageId = await this.notifier.reminder(
            tx,
            iv,
            { id: r.id, kind: r.kind, leadMinutes: r.lead_minutes },
            to,
          );
          state = 'sent';
        } catch (error) {
          // Nothing was written for it (the content is checked first): give it up, keep the batch.
          if (!(error instanceof MessageContentError)) throw error;
          this.logger.error(`reminder ${r.id}: ${error.message}`);
          state = 'missed';
        }
      }
      outcomes.push({ id: r.id, state, messageId });
      run[state]++;
    }
    await tx.query(
      `UPDATE interview_reminders r
          SET state = o.state, message_id = o.message_id, processed_at = $4
         FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS o(id, state, message_id)
        WHERE r.id = o.id`,
      [
        outcomes.map((o) => o.id),
        outcomes.map((o) => o.state),
        outcomes.map((o) => o.messageId),
        now,
      ],
    );
    return { run, claimed: due.length };
  }
}
