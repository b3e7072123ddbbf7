import { parseRsvpEventKey, WeComEventHandlers } from './wecom-event-handlers.js';

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
  it.each([
    ['rsvp:accept:3f2a-9c', { answer: 'accept', interviewId: '3f2a-9c' }],
    ['rsvp:decline:42', { answer: 'decline', interviewId: '42' }],
    ['rsvp:maybe:42', null],
    ['rsvp:accept:', null],
    ['rsvp:accept:42:extra', null],
    ['accept', null],
    [null, null],
  ])('%p -> %p', (key, expected) => {
    expect(parseRsvpEventKey(key)).toEqual(expected);
  });
});
