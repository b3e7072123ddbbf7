import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';

import { MessagesSettledEvent } from '../messaging/message-events.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { InterviewsRepository } from './interviews.repository.js';

const REMINDER_KINDS = new Set(['interview.reminder', 'interview.feedback']);

/** Reminder lag: the time a reminder's message went out minus the time the reminder was due. */
@Injectable()
export class ReminderLagRecorder {
  private readonly logger = new Logger(ReminderLagRecorder.name);

  constructor(
    private readonly repository: InterviewsRepository,
    private readonly metrics: MetricsService,
  ) {}

  @OnEvent(MessagesSettledEvent.key)
  async record(event: MessagesSettledEvent): Promise<void> {
    const sent = event.messages
      .filter((m) => REMINDER_KINDS.has(m.kind) && ['sent', 'partially_sent'].includes(m.status))
      .map((m) => m.id);
    if (sent.length === 0) return;
    try {
      for (const dueAt of await this.repository.reminderDueTimes(sent)) {
        const lagMs = event.settledAt.getTime() - dueAt.getTime();
        this.metrics.reminderLag.observe(Math.max(0, lagMs / 1000));
      }
    } catch (error) {
      this.logger.warn(`reminder lag not recorded: ${String(error)}`);
    }
  }
}
