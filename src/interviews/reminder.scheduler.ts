import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
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
 */
@Injectable()
export class ReminderScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger(ReminderScheduler.name);

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
      () => this.runOnce(),
    );
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
      await tx.query(
        `UPDATE interview_reminders SET state = $2, message_id = $3, processed_at = $4 WHERE id = $1`,
        [r.id, state, messageId, now],
      );
      run[state]++;
    }
    return { run, claimed: due.length };
  }
}
