import { ConsoleLogger, type LogLevel } from '@nestjs/common';

export interface LogEntry {
  level: LogLevel;
  context: string;
  message: string;
  /** Present when the line was logged with a stack trace. */
  stack?: string;
}

/**
 * The app logger for specs that provoke failures on purpose: lines are parsed the way Nest's
 * console logger parses them (message, stack, context) but recorded instead of printed, so the
 * spec can assert what was logged and the Jest output holds no line nobody needs to read.
 */
export class LogRecorder extends ConsoleLogger {
  readonly entries: LogEntry[] = [];

  constructor(levels: LogLevel[] = ['fatal', 'error', 'warn']) {
    super({ logLevels: levels, colors: false });
  }

  /** Entries at `level` whose message matches, removed from the record. */
  take(level: LogLevel, message: RegExp): LogEntry[] {
    const taken = this.entries.filter((e) => e.level === level && message.test(e.message));
    for (const e of taken) this.entries.splice(this.entries.indexOf(e), 1);
    return taken;
  }

  /** What was logged at `level`, as "[context] message" lines (for readable assertions). */
  lines(level: LogLevel): string[] {
    return this.entries.filter((e) => e.level === level).map((e) => `[${e.context}] ${e.message}`);
  }

  protected override printMessages(
    messages: unknown[],
    context = '',
    logLevel: LogLevel = 'log',
    _stream?: 'stdout' | 'stderr',
    errorStack?: unknown,
  ): void {
    for (const message of messages) {
      this.entries.push({
        level: logLevel,
        context,
        message: typeof message === 'string' ? message : JSON.stringify(message),
        ...(typeof errorStack === 'string' ? { stack: errorStack } : {}),
      });
    }
  }

  protected override printStackTrace(): void {
    // Kept on the entry instead.
  }
}
