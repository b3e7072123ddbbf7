import { Injectable } from '@nestjs/common';

/**
 * Wakes this process's dispatcher the moment new work is committed, so a message does not wait
 * for the next poll. Work written inside a caller's transaction is only visible once that
 * commits: callers wake through `TransactionHost.afterCommit`.
 */
@Injectable()
export class MessageDispatchSignal {
  private listener?: () => void;

  onWake(listener: () => void): void {
    this.listener = listener;
  }

  wake(): void {
    this.listener?.();
  }
}
