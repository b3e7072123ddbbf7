import { readCallbackEvent } from './callback-event.js';
import { CallbackXmlError } from './callback-xml.js';

describe(readCallbackEvent.name, () => {
  const click = {
    ToUserName: 'ww1',
    FromUserName: 'zhangsan',
    CreateTime: '1763888400',
    MsgType: 'event',
    Event: 'template_card_event',
    EventKey: 'rsvp:accept:iv-1',
    TaskId: 'task-1',
    AgentID: '1000002',
  };

  it('keys an event on FromUserName|CreateTime|Event|EventKey|TaskId', () => {
    expect(readCallbackEvent(click)).toEqual({
      dedupeKey: 'zhangsan|1763888400|template_card_event|rsvp:accept:iv-1|task-1',
      msgType: 'event',
      event: 'template_card_event',
      fromUser: 'zhangsan',
      agentId: 1000002,
      createTime: new Date(1763888400 * 1000),
    });
  });

  it('tells two clicks of one user apart by their button', () => {
    const other = readCallbackEvent({ ...click, EventKey: 'rsvp:decline:iv-1' });
    expect(other.dedupeKey).not.toBe(readCallbackEvent(click).dedupeKey);
  });

  it('keys a message on its MsgId', () => {
    const sut = readCallbackEvent({ ...click, MsgType: 'text', Event: '', MsgId: '123' });
    expect(sut).toMatchObject({ dedupeKey: 'msg:123', msgType: 'text', event: null });
  });

  it('leaves an odd AgentID out instead of failing', () => {
    expect(readCallbackEvent({ ...click, AgentID: 'abc' }).agentId).toBeNull();
  });

  it.each([
    ['MsgType', { MsgType: '' }],
    ['FromUserName', { FromUserName: '' }],
    ['CreateTime', { CreateTime: 'yesterday' }],
    ['Event', { Event: '' }],
  ])('refuses a callback without a valid %s', (_field, change) => {
    expect(() => readCallbackEvent({ ...click, ...change })).toThrow(CallbackXmlError);
  });

  it('tells apart contact changes of one second (all from "sys") by change type and member', () => {
    const removed = {
      ToUserName: 'ww1',
      FromUserName: 'sys',
      CreateTime: '1763888400',
      MsgType: 'event',
      Event: 'change_contact',
      ChangeType: 'delete_user',
      UserID: 'zhangsan',
    };
    const keys = new Set(
      [
        removed,
        { ...removed, UserID: 'lisi' },
        { ...removed, ChangeType: 'update_user', NewUserID: 'zhangsan2' },
        { ...removed, ChangeType: 'update_user', Status: '2' },
      ].map((f) => readCallbackEvent(f).dedupeKey),
    );
    expect(keys.size).toBe(4);
    // A retry of the same change is the same key.
    expect(readCallbackEvent({ ...removed }).dedupeKey).toBe(readCallbackEvent(removed).dedupeKey);
  });
});
