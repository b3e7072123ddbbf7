import { ConsoleLogger, type LogLevel } from '@nestjs/common';

import { currentRequestId } from './request-context.js';
import { redactUrl, SECRET_FIELDS } from './redact.js';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

export function levelsFrom(minimum: LogLevel): LogLevel[] {
  return LEVELS.slice(0, LEVELS.indexOf(minimum) + 1);
}

/**
 * Nest's console logger, in JSON lines for production or readable for development, with the
 * request id on every line and secret query parameters redacted as a last line of defence.
 */
export class AppLogger extends ConsoleLogger {
  constructor(format: 'json' | 'pretty', minimum: LogLevel) {
    super({
      json: format === 'json',
      colors: format === 'pretty',
      logLevels: levelsFrom(minimum),
      // Object messages and structured params: keys that hold secrets are masked at any depth.
      redact: [...SECRET_FIELDS],
    });
  }

  protected override printStackTrace(stack: string | undefined): void {
    // Called for every error line, with no stack when none was given.
    super.printStackTrace(typeof stack === 'string' ? redactUrl(stack) : (stack as never));
  }

  protected override getJsonLogObject(
    message: unknown,
    options: Parameters<ConsoleLogger['getJsonLogObject']>[1],
  ): ReturnType<ConsoleLogger['getJsonLogObject']> {
    const text = typeof message === 'string' ? redactUrl(message) : message;
    const entry = super.getJsonLogObject(text, options);
    // A stack repeats the error's message, so it gets the same redaction.
    if (typeof entry.stack === 'string') entry.stack = redactUrl(entry.stack);
    const requestId = currentRequestId();
    if (requestId) entry.requestId = requestId;
    return entry;
  }

  protected override formatMessage(
    logLevel: LogLevel,
    message: unknown,
    pidMessage: string,
    formattedLogLevel: string,
    contextMessage: string,
    timestampDiff: string,
    params?: Record<string, unknown>,
  ): string {
    const requestId = currentRequestId();
    const text = typeof message === 'string' ? redactUrl(message) : message;
    const tagged = requestId && typeof text === 'string' ? `[${requestId}] ${text}` : text;
    return super.formatMessage(
      logLevel,
      tagged,
      pidMessage,
      formattedLogLevel,
      contextMessage,
      timestampDiff,
      params,
    );
  }
}
