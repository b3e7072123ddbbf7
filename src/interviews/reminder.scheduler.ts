import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { SchedulerRegistry } from '@nestjs/schedule';

import { Clock } from '../common/clock.js';
import { registerCronJob } from '../common/scheduled-job.js';
import type { AppConfigService } from '../config/app-config.js';
import { TransactionHost } from '../database/transaction-host.js';
import { MessageContentError } from '../messaging/message-content.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import { OrganizationsService } from '../organizations/organizations.service.js';
import { InterviewNotifier } from './interview-notifier.js';
import type { ReminderState } from './interview-reminder.entity.js';
import { InterviewsRepository, type ReminderOutcome } from './interviews.repository.js';

const BATCH = 100;
/** How far ahead a timer is set for the next reminder; later ones are left to the poll. */
const LOOKAHEAD_MS = 5 * 60_000;
/** The shortest timer: a reminder that fell due during a run is taken straight after it. */
const MIN_WAIT_MS = 10;

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
    private readonly db: TransactionHost,
    private readonly repository: InterviewsRepository,
    private readonly clock: Clock,
    private readonly notifier: InterviewNotifier,
    private readonly registry: SchedulerRegistry,
    @Inject(ConfigService) private readonly config: AppConfigService,
    private readonly organizations: OrganizationsService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.get('CRON_ENABLED', { infer: true })) return;
    registerCronJob(
      this.registry,
      'interview-reminders',
      this.config.get('REMINDER_POLL_CRON', { infer: true }),
      // The timer armForNext sets inherits the scope.
      () => this.organizations.within(DEFAULT_ORGANIZATION, () => this.poll()),
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
    const next = await this.repository.nextDueAt();
    if (!next || this.stopped) return;
    const wait = next.getTime() - this.clock.nowMs();
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
  runOnce(): Promise<ReminderRun> {
    return this.organizations.within(DEFAULT_ORGANIZATION, () => this.runOnceInScope());
  }

  private async runOnceInScope(): Promise<ReminderRun> {
    const total: ReminderRun = { sent: 0, missed: 0, canceled: 0 };
    for (;;) {
      // The claim (row locks) and the messages it queues commit together.
      const { run, claimed } = await this.db.transaction(() => this.batch());
      for (const k of Object.keys(total) as (keyof ReminderRun)[]) total[k] += run[k];
      if (claimed < BATCH) break;
    }
    if (total.missed > 0) this.logger.warn(`${total.missed} reminder(s) missed their time`);
    return total;
  }

  private async batch(): Promise<{ run: ReminderRun; claimed: number }> {
    const now = this.clock.now();
    const run: ReminderRun = { sent: 0, missed: 0, canceled: 0 };
    const due = await this.repository.claimDueReminders(now, BATCH);
    if (due.length === 0) return { run, claimed: 0 };

    const ids = [...new Set(due.map((r) => r.interviewId))];
    const interviews = new Map((await this.repository.findMany(ids)).map((iv) => [iv.id, iv]));
    const participants = await this.repository.participantsOfMany(ids);
    const outcomes: ReminderOutcome[] = [];

    for (const r of due) {
      const iv = interviews.get(r.interviewId)!;
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
            iv,
            { id: r.id, kind: r.kind, leadMinutes: r.leadMinutes },
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
    await this.repository.recordOutcomes(outcomes, now);
    return { run, claimed: due.length };
  }
}
