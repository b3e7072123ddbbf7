import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

import { ContextSlot } from '../common/async-context.js';
import {
  NoOrganizationScopeError,
  organizationScope,
  type OrganizationScope,
} from '../common/organization-scope.js';

interface OpenTransaction {
  manager: EntityManager;
  afterCommit: (() => void)[];
  /** The organisation whose `app.organization_id` the transaction set. */
  organization: OrganizationScope;
}

// Defined beside the scope slot: what holds per-organisation state in memory (settings, tokens)
// refuses to run without a scope in the same words as the database does.
export { NoOrganizationScopeError };

/** Work for one organisation tried to join a transaction opened for another. */
export class OrganizationScopeMismatchError extends Error {
  override name = 'OrganizationScopeMismatchError';
  constructor(open: OrganizationScope, requested: OrganizationScope) {
    super(
      `A transaction opened for organisation ${open.slug} was joined from work for ${requested.slug}: ` +
        'run the other organisation’s work after this transaction, not inside it',
    );
  }
}

/** `unscoped` was called while a transaction (always an organisation's) is open. */
export class UnscopedInTransactionError extends Error {
  override name = 'UnscopedInTransactionError';
  constructor() {
    super(
      'TransactionHost.unscoped was called inside an organisation’s transaction: call it before ' +
        'the transaction opens or after it ends',
    );
  }
}

/** An organisation's id as `organizations.id` holds it: the only text spliced into SQL here. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Opens the transaction and sets the organisation for its rest only (`is_local`, see section 1
 * (c)) in one round trip: two statements in one simple-protocol message, which takes no
 * parameters, so the id goes in as a literal, and only after it has proved to be a UUID.
 *
 * TypeORM's `startTransaction` would send START TRANSACTION on its own and wait for it (one round
 * trip more on every request that reads or writes), so this opens the transaction itself and then
 * puts the runner in the state `startTransaction` leaves: active, at depth 1. From there TypeORM
 * carries on as usual: `commitTransaction`/`rollbackTransaction` end it, a nested
 * `manager.transaction` is a savepoint, and `save` does not open one of its own
 * (transaction-host.spec pins all three, so a TypeORM upgrade that moves this state fails there).
 */
async function startScopedTransaction(runner: QueryRunner, organizationId: string): Promise<void> {
  if (!UUID.test(organizationId)) {
    throw new Error('An organisation id is not a UUID: refusing to open its transaction');
  }
  const state = runner as unknown as { isTransactionActive: boolean; transactionDepth: number };
  // Active before the message is sent, as TypeORM does: a failure below is rolled back.
  state.isTransactionActive = true;
  state.transactionDepth = 1;
  await runner.query(
    `START TRANSACTION; SELECT set_config('app.organization_id', '${organizationId}', true)`,
  );
}

/**
 * The one holder of the DataSource for everything outside `database/`, and the one place the
 * organisation is put on the database session (docs/design/organisations.md, section 2).
 *
 * Every transaction belongs to the organisation in `organizationScope` when it opens: its first
 * statement sets `app.organization_id` (transaction-local, so it never outlives the transaction
 * on a pooled connection), which the row-level security policies and the column defaults read.
 * Repositories reach the database only through `run` (joins the open transaction, or opens one
 * for its statements) and `unscoped` (tables that belong to no organisation), so no statement
 * on an organisation's table can run without the setting.
 */
@Injectable()
export class TransactionHost {
  private readonly logger = new Logger(TransactionHost.name);
  /** Per host: two hosts (two simulated instances in one spec) never see each other's. */
  private readonly current = new ContextSlot<OpenTransaction>('transaction');

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Runs a repository's statements in the current organisation: inside `transaction()` in that
   * transaction, so they commit or roll back with it; outside one in a transaction of their own
   * (the setting is transaction-local, so a lone read needs one too). Throws
   * NoOrganizationScopeError without a scope.
   */
  async run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const open = this.joinable();
    if (open) return work(open.manager);
    return this.transaction(() => work(this.current.get()!.manager));
  }

  /**
   * Runs `work` without an organisation, on the pool (no transaction, no setting): only for the
   * tables that belong to no organisation (`organizations`, `rate_limit_counters`) and the
   * start-up checks. A statement on an organisation's table sees nothing here once row-level
   * security is on. `work` may open a transaction of its own with `manager.transaction`.
   *
   * Refused inside an open transaction (UnscopedInTransactionError): joining it would run in its
   * organisation after all, and another connection would neither see its uncommitted rows nor,
   * on the single-session PGlite, ever get a turn while it waits. Call it before or after.
   */
  async unscoped<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    this.refuseUnscopedInTransaction();
    return work(this.dataSource.manager);
  }

  /**
   * Throws UnscopedInTransactionError where `unscoped` would. For a caller that serves unscoped
   * reads from a copy (OrganizationsService): it must refuse every time, not only when its copy
   * has run out, or the mistake shows once in a while instead of in the first test.
   */
  refuseUnscopedInTransaction(): void {
    if (this.current.get()) throw new UnscopedInTransactionError();
  }

  /** False once the DataSource is closed (a timer may fire while the app shuts down). */
  get isOpen(): boolean {
    return this.dataSource.isInitialized;
  }

  get inTransaction(): boolean {
    return this.current.get() !== undefined;
  }

  /**
   * Runs `work` in a transaction of the current organisation. A call made while one is already
   * open joins it (the work commits or rolls back with the outermost call), when it is for the
   * same organisation; for another it throws OrganizationScopeMismatchError. Without a scope it
   * throws NoOrganizationScopeError before touching the database.
   */
  async transaction<T>(work: () => Promise<T>): Promise<T> {
    if (this.joinable()) return work();
    const organization = organizationScope.get();
    if (!organization) throw new NoOrganizationScopeError();
    const afterCommit: (() => void)[] = [];
    const result = await this.inScopedTransaction(organization, afterCommit, work);
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

  /** What `dataSource.transaction` does, with the transaction opened by startScopedTransaction. */
  private async inScopedTransaction<T>(
    organization: OrganizationScope,
    afterCommit: (() => void)[],
    work: () => Promise<T>,
  ): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    try {
      await startScopedTransaction(runner, organization.id);
      const result = await this.current.run(
        { manager: runner.manager, afterCommit, organization },
        work,
      );
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) {
        // The work's error is the one to throw, whatever the rollback says (as TypeORM does).
        await runner.rollbackTransaction().catch(() => undefined);
      }
      throw error;
    } finally {
      await runner.release();
    }
  }

  /** The open transaction, when the current work may join it (same organisation). */
  private joinable(): OpenTransaction | undefined {
    const open = this.current.get();
    if (!open) return undefined;
    const requested = organizationScope.get();
    if (!requested) throw new NoOrganizationScopeError();
    if (requested.id !== open.organization.id) {
      throw new OrganizationScopeMismatchError(open.organization, requested);
    }
    return open;
  }
}
