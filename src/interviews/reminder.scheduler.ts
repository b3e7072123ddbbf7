import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { OnEvent } from '@nestjs/event-emitter';
import { SchedulerRegistry } from '@nestjs/schedule';

import { Clock } from '../common/clock.js';
import { registerCronJob } from '../common/scheduled-job.js';
import type { AppConfigService } from '../config/app-config.js';
import { TransactionHost } from '../database/transaction-host.js';
import { MessageContentError } from '../messaging/message-content.js';
import type { Organization } from '../organizations/organization.js';
import { OrganizationChangedEvent } from '../organizations/organization-events.js';
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
 *
 * Reminders belong to organisations: a run goes over the active ones, each batch one scoped
 * transaction in its organisation (docs/design/organisations.md, section 2). A suspended
 * organisation is left out, its reminders stay pending; when it is resumed they are taken by the
 * next run, and the rule in `batch` decides as for any late reminder: sent while the interview
 * has not started (and no shorter reminder of the same kind is due too), `missed` once it has.
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
      () => this.poll(),
    );
  }

  /**
   * A suspended organisation resumed: its reminders that fell due meanwhile (pending all along)
   * are taken now rather than at the next poll, by the rule in `batch`. Only where the poll runs
   * (CRON_ENABLED): an instance with its jobs off leaves them to the others.
   */
  @OnEvent(OrganizationChangedEvent.key)
  onOrganizationChanged(event: OrganizationChangedEvent): void {
    if (!event.resumed || !this.config.get('CRON_ENABLED', { infer: true })) return;
    // A run under way read the organisations before the resume: the timer it sets afterwards
    // for the earliest due reminder (overdue ones included) brings the resumed one's.
    this.poll().catch((error: unknown) =>
      this.logger.error(`reminder run after ${event.next.slug} resumed failed: ${describe(error)}`),
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
    const active = await this.organizations.active();
    const dueTimes = await Promise.all(
      active.map((organization) =>
        this.organizations.within(organization, () => this.repository.nextDueAt()),
      ),
    );
    const next = dueTimes.reduce<Date | null>(
      (earliest, at) => (at && (!earliest || at < earliest) ? at : earliest),
      null,
    );
    if (!next || this.stopped) return;
    const wait = next.getTime() - this.clock.nowMs();
    if (wait > LOOKAHEAD_MS) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () =>
        void this.poll().catch((error: unknown) => {
          // A failing run waits for the next poll instead of retrying at once.
          this.logger.error(`reminder run failed: ${describe(error)}`);
        }),
      Math.max(wait, MIN_WAIT_MS),
    );
    this.timer.unref();
  }

  /**
   * Processes everything due now in the active organisations, batch by batch, the organisations
   * taking turns so that one's backlog does not hold up another's reminders. An organisation
   * whose batch fails is left for the next run and the others go on; the run then fails with
   * its error. Specs call it after moving the clock.
   */
  async runOnce(): Promise<ReminderRun> {
    const total: ReminderRun = { sent: 0, missed: 0, canceled: 0 };
    const failures: { organization: Organization; error: unknown }[] = [];
    let busy = await this.organizations.active();
    while (busy.length > 0 && !this.stopped) {
      const fullBatch: Organization[] = [];
      for (const organization of busy) {
        try {
          // The claim (row locks) and the messages it queues commit together, in its scope.
          const { run, claimed } = await this.organizations.within(organization, () =>
            this.db.transaction(() => this.batch()),
          );
          for (const k of Object.keys(total) as (keyof ReminderRun)[]) total[k] += run[k];
          if (claimed === BATCH) fullBatch.push(organization);
        } catch (error) {
          failures.push({ organization, error });
        }
      }
      busy = fullBatch;
    }
    if (total.missed > 0) this.logger.warn(`${total.missed} reminder(s) missed their time`);
    if (failures.length === 0) return total;
    for (const { organization, error } of failures.slice(1)) {
      this.logger.error(`reminders of ${organization.slug} failed: ${describe(error)}`);
    }
    throw failures[0].error;
  }

  /** One batch of the scope's organisation's due reminders (claimed in it only). */
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
