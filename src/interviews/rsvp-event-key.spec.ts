import { parseRsvpEventKey, rsvpEventKey, RsvpKeyError } from './rsvp-event-key.js';

describe(parseRsvpEventKey.name, () => {
  const id = '3f2a9c10-7b4e-4d2a-9e61-0c5b8a7d1f23';
  it.each([
    [`rsvp:accept:${id}`, { answer: 'accept', interviewId: id }],
    [`rsvp:decline:${id.toUpperCase()}`, { answer: 'decline', interviewId: id }],
    ['approve:42', null],
    ['accept', null],
    ['', null],
    [null, null],
  ])('%p -> %p', (key, expected) => {
    expect(parseRsvpEventKey(key)).toEqual(expected);
  });

  it.each([
    'rsvp:accept:42',
    'rsvp:accept:3f2a-9c',
    `rsvp:accept:${'-'.repeat(36)}`,
    "rsvp:accept:1' OR '1'='1",
    'rsvp:maybe:' + id,
    'rsvp:accept:',
    `rsvp:accept:${id}:extra`,
  ])('%p is refused before anything is looked up', (key) => {
    expect(() => parseRsvpEventKey(key)).toThrow(RsvpKeyError);
  });

  it('reads back the keys the invitation card carries', () => {
    expect(parseRsvpEventKey(rsvpEventKey('decline', id))).toEqual({
      answer: 'decline',
      interviewId: id,
    });
  });
});
