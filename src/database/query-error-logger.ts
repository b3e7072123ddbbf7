import { Logger } from '@nestjs/common';
import type { Logger as TypeOrmLogger } from 'typeorm';

import { redactUrl } from '../common/redact.js';

/**
 * TypeORM's built-in loggers print a failed query with its parameters, and those parameters are
 * access tokens, jsapi tickets, ciphertexts and personal data: a failed upsert of the shared
 * token would put the token in the log. This logger says which statement failed and why,
 * through Nest's logger (request id, JSON in production), and never prints a parameter.
 */
export class QueryErrorLogger implements TypeOrmLogger {
  private readonly logger = new Logger('Database');
  private closing = false;

  /** From now on the pool is closing: a query it cuts off is our own shutdown, not a fault. */
  closingDown(): void {
    this.closing = true;
  }

  logQueryError(error: string | Error, query: string): void {
    const reason = error instanceof Error ? error.message : error;
    const line = `query failed: ${withoutValue(reason)} (${statementOf(query)})`;
    if (this.closing && CUT_BY_SHUTDOWN.test(reason)) this.logger.debug(`${line} while closing`);
    else this.logger.error(line);
  }

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger.warn(redactUrl(String(message)));
  }

  logQuery(): void {}

  logQuerySlow(): void {}

  logSchemaBuild(): void {}

  logMigration(): void {}
}

/** How pg and PostgreSQL say that a session was ended under a running query. */
const CUT_BY_SHUTDOWN =
  /Connection terminated|Cannot use a pool after calling end|Client was closed|terminating connection/i;

/** PostgreSQL quotes the offending input in some messages (`invalid input syntax for type uuid: "…"`). */
function withoutValue(reason: string): string {
  return redactUrl(reason).replace(
    /(invalid input (?:syntax|value) for [^:]+: ).*/i,
    '$1(value not shown)',
  );
}

/** The first words of the SQL (`INSERT INTO "wecom_credentials"`): enough to find the caller. */
function statementOf(query: string): string {
  const head = query.replace(/\s+/g, ' ').trim();
  return head.length > 80 ? `${head.slice(0, 77)}...` : head;
}
