import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { MessagingModule } from '../messaging/messaging.module.js';
import { UserMappingsModule } from '../user-mappings/user-mappings.module.js';
import { WeComModule } from '../wecom/wecom.module.js';
import { InterviewParticipantEntity } from './interview-participant.entity.js';
import { InterviewReminderEntity } from './interview-reminder.entity.js';
import { InterviewEntity } from './interview.entity.js';
import { InterviewCardActions } from './interview-card-actions.js';
import { InterviewNotificationComposer } from './interview-notification.composer.js';
import { InterviewNotifier } from './interview-notifier.js';
import { InterviewsController } from './interviews.controller.js';
import { InterviewsRepository } from './interviews.repository.js';
import { InterviewsService } from './interviews.service.js';
import { ReminderLagRecorder } from './reminder-lag.recorder.js';
import { ReminderScheduler } from './reminder.scheduler.js';
import { RecentParticipantsRepository } from './recent-participants.repository.js';
import { UnmappedParticipantsController } from './unmapped-participants.controller.js';
import { UnmappedParticipantsService } from './unmapped-participants.service.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([
      InterviewEntity,
      InterviewParticipantEntity,
      InterviewReminderEntity,
    ]),
    WeComModule,
    MessagingModule,
    UserMappingsModule,
  ],
  controllers: [InterviewsController, UnmappedParticipantsController],
  providers: [
    InterviewsRepository,
    InterviewsService,
    InterviewNotifier,
    InterviewNotificationComposer,
    ReminderScheduler,
    InterviewCardActions,
    ReminderLagRecorder,
    RecentParticipantsRepository,
    UnmappedParticipantsService,
  ],
  exports: [InterviewsService, ReminderScheduler],
})
export class InterviewsModule {}
