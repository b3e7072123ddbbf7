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

/**
 * Who wants which callbacks. Feature modules register in `onModuleInit`, e.g. the interviews
 * module for `template_card_event` (RSVP buttons). The key is the Event for MsgType `event`,
 * the MsgType otherwise (`text`, `image`, ...).
 */
@Injectable()
export class WeComEventHandlers {
  private readonly handlers = new Map<string, WeComEventHandler[]>();

  /** Returns a function that removes the handler again. */
  register(name: string, handler: WeComEventHandler): () => void {
    const list = this.handlers.get(name) ?? [];
    list.push(handler);
    this.handlers.set(name, list);
    return () => {
      const current = this.handlers.get(name) ?? [];
      this.handlers.set(
        name,
        current.filter((h) => h !== handler),
      );
    };
  }

  handlersFor(event: Pick<WeComCallbackEvent, 'msgType' | 'event'>): WeComEventHandler[] {
    const name = event.msgType === 'event' ? event.event : event.msgType;
    return name ? [...(this.handlers.get(name) ?? [])] : [];
  }
}

export interface RsvpAnswer {
  answer: 'accept' | 'decline';
  interviewId: string;
}

/** A card key that claims to be an RSVP button but is not one we made (forged or broken). */
export class RsvpKeyError extends Error {
  override name = 'RsvpKeyError';
}

const RSVP_KEY =
  /^rsvp:(accept|decline):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/**
 * The button keys of the interview invitation card: `rsvp:accept:<interviewId>` and
 * `rsvp:decline:<interviewId>`. Another card's key (not `rsvp:`) is null. An `rsvp:` key with
 * another answer or an id that is no uuid throws RsvpKeyError, so that nothing queries the
 * database with it and the event is stored with that reason.
 */
export function parseRsvpEventKey(eventKey: string | null | undefined): RsvpAnswer | null {
  if (!eventKey?.startsWith('rsvp:')) return null;
  const match = RSVP_KEY.exec(eventKey);
  if (!match) {
    throw new RsvpKeyError(
      'card key starts with rsvp: but is not rsvp:accept:<interview uuid> or rsvp:decline:<interview uuid>; ignored',
    );
  }
  return { answer: match[1] as RsvpAnswer['answer'], interviewId: match[2]!.toLowerCase() };
}
