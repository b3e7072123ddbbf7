import type { MemberLookup, MemberMapping } from '../user-mappings/member.js';
import { resolveRecipients } from './messaging.service.js';

const mapping = (
  platformUserId: string,
  wecomUserId: string,
  status: MemberMapping['status'] = 'active',
): [string, MemberMapping] => [
  platformUserId,
  { platformUserId, wecomUserId, status, language: 'zh' },
];

describe(resolveRecipients.name, () => {
  const lookup: MemberLookup = {
    members: new Map([
      mapping('u-zhang', 'ZhangSan'),
      mapping('u-li', 'lisi', 'left'),
      mapping('u-old', '@ALL'),
    ]),
    inactive: new Set(['wangwu']),
  };

  it('maps platform users to their member, and says why the others get nothing', () => {
    expect(
      resolveRecipients(
        [{ platformUserId: 'u-zhang' }, { platformUserId: 'u-li' }, { platformUserId: 'u-nobody' }],
        lookup,
      ),
    ).toEqual([
      { platformUserId: 'u-zhang', wecomUserId: 'ZhangSan', status: 'pending' },
      { platformUserId: 'u-li', wecomUserId: 'lisi', status: 'inactive_mapping' },
      { platformUserId: 'u-nobody', wecomUserId: null, status: 'no_mapping' },
    ]);
  });

  it('does not turn a stored mapping to @all into a broadcast', () => {
    expect(resolveRecipients([{ platformUserId: 'u-old' }], lookup)).toEqual([
      { platformUserId: 'u-old', wecomUserId: null, status: 'no_mapping' },
    ]);
  });

  it('skips a WeCom userid whose mapping is inactive, whatever its case; unmapped ones are sent to', () => {
    expect(
      resolveRecipients([{ wecomUserId: 'WangWu' }, { wecomUserId: 'stranger' }], lookup),
    ).toEqual([
      { platformUserId: null, wecomUserId: 'WangWu', status: 'inactive_mapping' },
      { platformUserId: null, wecomUserId: 'stranger', status: 'pending' },
    ]);
  });

  it('keeps the first of the same person named twice, in the order given', () => {
    expect(
      resolveRecipients(
        [
          { wecomUserId: 'stranger' },
          { wecomUserId: 'zhangsan' },
          { platformUserId: 'u-zhang' },
          { platformUserId: 'u-nobody' },
          { platformUserId: 'u-nobody' },
          { wecomUserId: 'STRANGER' },
        ],
        lookup,
      ),
    ).toEqual([
      { platformUserId: null, wecomUserId: 'stranger', status: 'pending' },
      { platformUserId: null, wecomUserId: 'zhangsan', status: 'pending' },
      { platformUserId: 'u-nobody', wecomUserId: null, status: 'no_mapping' },
    ]);
  });
});
