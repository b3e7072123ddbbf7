import { Injectable } from '@nestjs/common';
import type { EntityManager, QueryRunner } from 'typeorm';

/**
 * Wakes this process's dispatcher the moment new work is committed, so a message does not wait
 * for the next poll. A message written inside a caller's transaction is only visible after that
 * transaction commits: those wake-ups wait for the commit (see MessageCommitSubscriber).
 */
@Injectable()
export class MessageDispatchSignal {
  private listener?: () => void;
  private readonly waiting = new WeakSet<QueryRunner>();

  onWake(listener: () => void): void {
    this.listener = listener;
  }

  wake(): void {
    this.listener?.();
  }

  afterCommitOf(manager: EntityManager): void {
    const runner = manager.queryRunner;
    if (runner?.isTransactionActive) this.waiting.add(runner);
    else this.wake();
  }

  /** Called by the subscriber after any transaction commits. */
  committed(runner: QueryRunner | undefined): void {
    if (runner && this.waiting.has(runner)) {
      this.waiting.delete(runner);
      this.wake();
    }
  }
}
