import type { MessageStatus } from './message.entity.js';

export interface SettledMessage {
  id: string;
  /** What the message is about, as its sender named it (e.g. `interview.reminder`). */
  kind: string;
  status: MessageStatus;
}

/**
 * Published once the dispatcher has saved the outcomes of a batch of deliveries: the modules
 * that sent the messages react to their fate (the interviews module records reminder lag)
 * without messaging knowing about them. `queued` means the message will be tried again.
 */
export class MessagesSettledEvent {
  static readonly key = 'messaging.messages-settled';

  constructor(
    readonly settledAt: Date,
    readonly messages: readonly SettledMessage[],
  ) {}
}
