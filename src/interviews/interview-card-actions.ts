import {
  ConflictException,
  ForbiddenException,
  Injectable,
  Logger,
  NotFoundException,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';

import { UserMappingsService } from '../user-mappings/user-mappings.service.js';
import { WeComCardUpdater } from '../wecom/callback/wecom-card-updater.js';
import {
  WeComEventHandlers,
  type WeComCallbackEvent,
} from '../wecom/callback/wecom-event-handlers.js';
import { InterviewNotificationComposer } from './interview-notification.composer.js';
import { InterviewsService } from './interviews.service.js';
import { parseRsvpEventKey, RSVP_KEY_PREFIX } from './rsvp-event-key.js';

/**
 * The Accept / Decline buttons of the invitation card. A click sets the RSVP exactly as
 * `POST /api/interviews/:id/rsvp` does (recruiters hear of a change), then turns the clicked
 * card's buttons into the answer with the event's ResponseCode. The callback service hands
 * each stored event over once, so a retried callback changes nothing here.
 */
@Injectable()
export class InterviewCardActions implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(InterviewCardActions.name);
  private unregister?: () => void;

  constructor(
    private readonly handlers: WeComEventHandlers,
    private readonly interviews: InterviewsService,
    private readonly cards: WeComCardUpdater,
    private readonly composer: InterviewNotificationComposer,
    private readonly mappings: UserMappingsService,
  ) {}

  onModuleInit(): void {
    this.unregister = this.handlers.register('template_card_event', (e) => this.onCardClick(e), {
      eventKeyPrefix: RSVP_KEY_PREFIX,
    });
  }

  onModuleDestroy(): void {
    this.unregister?.();
  }

  /** Errors propagate to the callback service, which records them on the event row. */
  async onCardClick(event: WeComCallbackEvent): Promise<void> {
    const answer = parseRsvpEventKey(event.eventKey);
    if (!answer) return; // not an RSVP key (the registration lets none through)
    const mapping = await this.mappings.findByWecomUserId(event.fromUser);
    if (!mapping) {
      throw new Error(`WeCom member ${event.fromUser} has no platform user mapping`);
    }
    const response = answer.answer === 'accept' ? 'accepted' : 'declined';
    let label: 'accepted' | 'declined' | 'closed' = response;
    try {
      await this.interviews.respond(answer.interviewId, mapping.platformUserId, response);
    } catch (error) {
      // Canceled, finished, or the member is no longer on it: the card says so, nothing is set.
      const refused =
        error instanceof ConflictException ||
        error instanceof NotFoundException ||
        error instanceof ForbiddenException;
      if (!refused) throw error;
      this.logger.log(
        `Card answer of ${event.fromUser} for interview ${answer.interviewId} not applied: ${error.message}`,
      );
      label = 'closed';
    }
    if (event.responseCode) {
      await this.cards.markAnswered(
        event.responseCode,
        [event.fromUser],
        this.composer.answeredLabel(label, mapping.language),
      );
    }
  }
}
