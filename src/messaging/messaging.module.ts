import { Module } from '@nestjs/common';

import { WeComModule } from '../wecom/wecom.module.js';
import { MessageCommitSubscriber } from './message-commit.subscriber.js';
import { MessageDispatchSignal } from './message-dispatch-signal.js';
import { MessageDispatcher } from './message-dispatcher.js';
import { MessageHistoryService } from './message-history.service.js';
import { MessagesController } from './messages.controller.js';
import { MessagingService } from './messaging.service.js';

@Module({
  imports: [WeComModule],
  controllers: [MessagesController],
  providers: [
    MessagingService,
    MessageDispatcher,
    MessageDispatchSignal,
    MessageCommitSubscriber,
    MessageHistoryService,
  ],
  exports: [MessagingService, MessageHistoryService, MessageDispatcher],
})
export class MessagingModule {}
