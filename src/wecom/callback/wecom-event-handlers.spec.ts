import { WeComEventHandlers } from './wecom-event-handlers.js';

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

  it('hands a card click only to the handlers whose key prefix it carries', () => {
    const sut = new WeComEventHandlers();
    const polls = () => undefined;
    const votes = () => undefined;
    const every = () => undefined;
    sut.register('template_card_event', polls, { eventKeyPrefix: 'poll:' });
    sut.register('template_card_event', votes, { eventKeyPrefix: 'vote:' });
    sut.register('template_card_event', every);
    const click = (eventKey: string | null) =>
      sut.handlersFor({ msgType: 'event', event: 'template_card_event', eventKey });
    expect(click('poll:yes:1')).toEqual([polls, every]);
    expect(click('vote:no:2')).toEqual([votes, every]);
    expect(click('other')).toEqual([every]);
    expect(click(null)).toEqual([every]);
  });

  it('unregisters', () => {
    const sut = new WeComEventHandlers();
    const off = sut.register('text', () => undefined);
    off();
    expect(sut.handlersFor({ msgType: 'text', event: null })).toEqual([]);
  });

  it('unregisters only the registration it was given, even for the same function twice', () => {
    const sut = new WeComEventHandlers();
    const handler = () => undefined;
    const off = sut.register('text', handler);
    sut.register('text', handler);
    off();
    expect(sut.handlersFor({ msgType: 'text', event: null })).toEqual([handler]);
  });
});
