import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

import { ContextSlot } from '../common/async-context.js';

interface OpenTransaction {
  manager: EntityManager;
  afterCommit: (() => void)[];
}

/**
 * The one holder of the DataSource for everything outside `database/`. A repository runs its
 * statements through `run`, which passes the manager: inside `transaction()` that transaction's,
 * so a service can make several modules' repositories write atomically (an interview and its
 * outbox messages) without passing an EntityManager through their signatures, and outside one
 * the pool's.
 *
 * Keeping the transaction in one place is also what lets a per-transaction setting (the
 * organisation, for row-level security) be applied once rather than by every caller.
 */
@Injectable()
export class TransactionHost {
  private readonly logger = new Logger(TransactionHost.name);
  /** Per host: two hosts (two simulated instances in one spec) never see each other's. */
  private readonly current = new ContextSlot<OpenTransaction>('transaction');

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The open transaction's manager, or the pool's when none is open: reached through `run`. */
  private get manager(): EntityManager {
    return this.current.get()?.manager ?? this.dataSource.manager;
  }

  /**
   * Runs a repository's statements: `work` gets the open transaction's manager, so they commit
   * or roll back with it, or the pool's when none is open (each statement on its own, as
   * before). Repositories reach the database only through this, so that the organisation can
   * later be set here once for all of them (docs/design/organisations.md, section 2).
   */
  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return work(this.manager);
  }

  /** False once the DataSource is closed (a timer may fire while the app shuts down). */
  get isOpen(): boolean {
    return this.dataSource.isInitialized;
  }

  get inTransaction(): boolean {
    return this.current.get() !== undefined;
  }

  /**
   * Runs `work` in a transaction. A call made while one is already open joins it: the work
   * commits or rolls back with the outermost call.
   */
  async transaction<T>(work: () => Promise<T>): Promise<T> {
    if (this.current.get()) return work();
    const afterCommit: (() => void)[] = [];
    const result = await this.dataSource.transaction((manager) =>
      this.current.run({ manager, afterCommit }, work),
    );
    for (const callback of afterCommit) {
      try {
        callback();
      } catch (error) {
        // The work has committed: a failing signal must not turn it into an error for the caller.
        this.logger.warn(`after-commit callback failed: ${String(error)}`);
      }
    }
    return result;
  }

  /**
   * Runs `callback` once the open transaction has committed (never if it rolls back), or now
   * when none is open: for signals that must not race the rows they announce.
   */
  afterCommit(callback: () => void): void {
    const open = this.current.get();
    if (open) open.afterCommit.push(callback);
    else callback();
  }
}
