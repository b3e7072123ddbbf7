import { Injectable } from '@nestjs/common';

/** A callback event as handlers see it: the fields they need, typed, and the rest raw. */
export interface WeComCallbackEvent {
  /** Our wecom_events row id. */
  id: string;
  /** MsgType: `event`, `text`, ... */
  msgType: string;
  /** Event, for MsgType `event` (e.g. `template_card_event`). */
  event: string | null;
  fromUser: string;
  agentId: number | null;
  createTime: Date;
  /** The button key of a card click (EventKey). */
  eventKey: string | null;
  taskId: string | null;
  /** Good once, for 72 hours, to update the card that was clicked (WeComCardUpdater). */
  responseCode: string | null;
  cardType: string | null;
  /** Every field of the decrypted XML, by element name. */
  fields: Readonly<Record<string, string>>;
}

export type WeComEventHandler = (event: WeComCallbackEvent) => Promise<void> | void;

export interface WeComEventHandlerOptions {
  /**
   * Only events whose EventKey starts with this (a card button's key): a module that made the
   * card's keys hears its own clicks, and wecom/ need not know any key's format.
   */
  eventKeyPrefix?: string;
}

interface Registration {
  handler: WeComEventHandler;
  eventKeyPrefix?: string;
}

/**
 * Who wants which callbacks. Feature modules register in `onModuleInit`, e.g. the interviews
 * module for the `template_card_event`s of its own buttons. The name is the Event for MsgType
 * `event`, the MsgType otherwise (`text`, `image`, ...).
 */
@Injectable()
export class WeComEventHandlers {
  private readonly handlers = new Map<string, Registration[]>();

  /** Returns a function that removes the handler again. */
  register(
    name: string,
    handler: WeComEventHandler,
    options: WeComEventHandlerOptions = {},
  ): () => void {
    const registration: Registration = { handler, eventKeyPrefix: options.eventKeyPrefix };
    this.handlers.set(name, [...(this.handlers.get(name) ?? []), registration]);
    return () => {
      const current = this.handlers.get(name) ?? [];
      this.handlers.set(
        name,
        current.filter((r) => r !== registration),
      );
    };
  }

  handlersFor(
    event: Pick<WeComCallbackEvent, 'msgType' | 'event'> & { eventKey?: string | null },
  ): WeComEventHandler[] {
    const name = event.msgType === 'event' ? event.event : event.msgType;
    if (!name) return [];
    return (this.handlers.get(name) ?? [])
      .filter((r) => r.eventKeyPrefix === undefined || event.eventKey?.startsWith(r.eventKeyPrefix))
      .map((r) => r.handler);
  }
}
