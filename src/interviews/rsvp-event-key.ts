/**
 * The button keys of the interview invitation card: `rsvp:accept:<interviewId>` and
 * `rsvp:decline:<interviewId>`. WeCom sends the clicked key back as the EventKey of a
 * template_card_event; the interviews module registers for keys with RSVP_KEY_PREFIX.
 */
export const RSVP_KEY_PREFIX = 'rsvp:';

export type RsvpButton = 'accept' | 'decline';

export interface RsvpAnswer {
  answer: RsvpButton;
  interviewId: string;
}

/** A card key that claims to be an RSVP button but is not one we made (forged or broken). */
export class RsvpKeyError extends Error {
  override name = 'RsvpKeyError';
}

const RSVP_KEY =
  /^rsvp:(accept|decline):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

export function rsvpEventKey(answer: RsvpButton, interviewId: string): string {
  return `${RSVP_KEY_PREFIX}${answer}:${interviewId}`;
}

/**
 * Another card's key (not `rsvp:`) is null. An `rsvp:` key with another answer or an id that is
 * no uuid throws RsvpKeyError, so that nothing queries the database with it and the event is
 * stored with that reason.
 */
export function parseRsvpEventKey(eventKey: string | null | undefined): RsvpAnswer | null {
  if (!eventKey?.startsWith(RSVP_KEY_PREFIX)) return null;
  const match = RSVP_KEY.exec(eventKey);
  if (!match) {
    throw new RsvpKeyError(
      'card key starts with rsvp: but is not rsvp:accept:<interview uuid> or rsvp:decline:<interview uuid>; ignored',
    );
  }
  return { answer: match[1] as RsvpButton, interviewId: match[2]!.toLowerCase() };
}
