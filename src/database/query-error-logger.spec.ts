import { Logger } from '@nestjs/common';

import { LogRecorder } from '../../test/support/log-recorder.js';
import { QueryErrorLogger } from './query-error-logger.js';

describe(QueryErrorLogger.name, () => {
  const logs = new LogRecorder(['error', 'warn', 'debug']);

  beforeAll(() => Logger.overrideLogger(logs));
  afterAll(() => Logger.overrideLogger(true));
  beforeEach(() => logs.entries.splice(0));

  it('logs a failed query as an ERROR, without its parameters', () => {
    const sut = new QueryErrorLogger();
    sut.logQueryError(
      new Error('invalid input syntax for type uuid: "tok-secret"'),
      'SELECT * FROM messages WHERE id = $1',
    );
    sut.logQueryError(new Error('Connection terminated'), 'SELECT version FROM app_settings');
    expect(logs.lines('error')).toEqual([
      '[Database] query failed: invalid input syntax for type uuid: (value not shown) (SELECT * FROM messages WHERE id = $1)',
      '[Database] query failed: Connection terminated (SELECT version FROM app_settings)',
    ]);
  });

  it('once the pool is closing, a query cut off by it is debug; any other failure stays an ERROR', () => {
    const sut = new QueryErrorLogger();
    sut.closingDown();
    sut.logQueryError(new Error('Connection terminated'), 'SELECT version FROM app_settings');
    sut.logQueryError('Cannot use a pool after calling end on the pool', 'START TRANSACTION');
    sut.logQueryError(new Error('duplicate key value violates unique constraint'), 'INSERT INTO x');
    expect(logs.lines('debug')).toEqual([
      '[Database] query failed: Connection terminated (SELECT version FROM app_settings) while closing',
      '[Database] query failed: Cannot use a pool after calling end on the pool (START TRANSACTION) while closing',
    ]);
    expect(logs.lines('error')).toEqual([
      '[Database] query failed: duplicate key value violates unique constraint (INSERT INTO x)',
    ]);
  });
});
