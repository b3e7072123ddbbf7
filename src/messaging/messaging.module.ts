import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { UserMappingsModule } from '../user-mappings/user-mappings.module.js';
import { WeComModule } from '../wecom/wecom.module.js';
import { MessageAttemptEntity } from './message-attempt.entity.js';
import { MessageRecipientEntity } from './message-recipient.entity.js';
import { MessageEntity } from './message.entity.js';
import { MessageDispatchSignal } from './message-dispatch-signal.js';
import { MessageDispatcher } from './message-dispatcher.js';
import { MessageHistoryService } from './message-history.service.js';
import { MessageOutboxRepository } from './message-outbox.repository.js';
import { MessagesController } from './messages.controller.js';
import { MessagesRepository } from './messages.repository.js';
import { MessagingService } from './messaging.service.js';
import { RecipientReserver } from './recipient-reserver.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([MessageEntity, MessageRecipientEntity, MessageAttemptEntity]),
    WeComModule,
    // Recipients are resolved, and inactive members skipped, through UserMappingsService.
    UserMappingsModule,
  ],
  controllers: [MessagesController],
  providers: [
    MessagingService,
    MessageDispatcher,
    MessageOutboxRepository,
    RecipientReserver,
    MessageDispatchSignal,
    MessageHistoryService,
    MessagesRepository,
  ],
  exports: [MessagingService, MessageHistoryService, MessageDispatcher],
})
export class MessagingModule {}
