import { CallbackXmlError } from './callback-xml.js';
import { readContactChange } from './contact-change-event.js';

describe(readContactChange.name, () => {
  const base = {
    ToUserName: 'ww1',
    FromUserName: 'sys',
    CreateTime: '1763888400',
    MsgType: 'event',
    Event: 'change_contact',
  };

  it('reads a removal', () => {
    expect(readContactChange({ ...base, ChangeType: 'delete_user', UserID: 'zhangsan' })).toEqual({
      changeType: 'delete_user',
      userId: 'zhangsan',
      newUserId: null,
      status: null,
    });
  });

  it('reads a userid change and a status change of update_user', () => {
    expect(
      readContactChange({ ...base, ChangeType: 'update_user', UserID: 'a', NewUserID: 'b' }),
    ).toMatchObject({ userId: 'a', newUserId: 'b', status: null });
    expect(
      readContactChange({ ...base, ChangeType: 'update_user', UserID: 'a', Status: '2' }),
    ).toMatchObject({ userId: 'a', newUserId: null, status: 2 });
  });

  it('ignores department and tag changes', () => {
    expect(readContactChange({ ...base, ChangeType: 'create_party', Id: '2' })).toBeNull();
    expect(readContactChange({ ...base, ChangeType: 'update_tag', TagId: '1' })).toBeNull();
  });

  it.each([
    ['no UserID', { ChangeType: 'delete_user' }],
    ['a bad UserID', { ChangeType: 'delete_user', UserID: 'a b' }],
    ['a bad NewUserID', { ChangeType: 'update_user', UserID: 'a', NewUserID: '<x>' }],
  ])('refuses a member change with %s', (_what, change) => {
    expect(() => readContactChange({ ...base, ...change })).toThrow(CallbackXmlError);
  });
});
