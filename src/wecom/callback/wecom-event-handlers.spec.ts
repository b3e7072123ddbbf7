import { parseRsvpEventKey, RsvpKeyError, WeComEventHandlers } from './wecom-event-handlers.js';

describe(WeComEventHandlers.name, () => {
  it('finds handlers by Event for events and by MsgType otherwise', () => {
    const sut = new WeComEventHandlers();
    const card = () => undefined;
    const text = () => undefined;
    sut.register('template_card_event', card);
    sut.register('text', text);
    expect(sut.handlersFor({ msgType: 'event', event: 'template_card_event' })).toEqual([card]);
    expect(sut.handlersFor({ msgType: 'text', event: null })).toEqual([text]);
    expect(sut.handlersFor({ msgType: 'event', event: 'change_contact' })).toEqual([]);
  });

  it('unregisters', () => {
    const sut = new WeComEventHandlers();
    const off = sut.register('text', () => undefined);
    off();
    expect(sut.handlersFor({ msgType: 'text', event: null })).toEqual([]);
  });
});

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
});
