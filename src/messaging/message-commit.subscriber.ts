import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntitySubscriberInterface, TransactionCommitEvent } from 'typeorm';

import { MessageDispatchSignal } from './message-dispatch-signal.js';

/** Tells the dispatch signal when a caller's transaction that queued messages has committed. */
@Injectable()
export class MessageCommitSubscriber implements EntitySubscriberInterface {
  constructor(
    @InjectDataSource() dataSource: DataSource,
    private readonly signal: MessageDispatchSignal,
  ) {
    dataSource.subscribers.push(this);
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    this.signal.committed(event.queryRunner);
  }
}
