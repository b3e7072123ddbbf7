import { inspect } from 'node:util';

/**
 * A start-up failure whose message tells the operator what to change: logged as that one line,
 * without a stack trace (main.ts exits with status 1 after it).
 */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    // Not an own enumerable field: the logger would print it after the message.
    Object.defineProperty(this, 'name', { value: 'StartupError', enumerable: false });
    this.stack = message;
  }

  /** How Nest's console logger prints what a provider threw: the message alone. */
  [inspect.custom](): string {
    return this.message;
  }
}
