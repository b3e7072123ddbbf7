import { FrontendUrl } from './frontend-url.js';

describe(FrontendUrl.name, () => {
  describe('with a path', () => {
    const sut = new FrontendUrl('https://app.example.com/smb/');

    it.each([
      ['/', 'https://app.example.com/smb/'],
      ['/interviews/42?tab=notes', 'https://app.example.com/smb/interviews/42?tab=notes'],
      ['/面试', 'https://app.example.com/smb/%E9%9D%A2%E8%AF%95'],
    ])('resolves %s', (path, expected) => {
      expect(sut.resolvePath(path)).toBe(expected);
    });

    it.each<[unknown, string]>([
      ['', 'empty'],
      ['interviews', 'relative'],
      ['//evil.com', 'protocol-relative'],
      ['/\\evil.com', 'backslash'],
      ['/a#b', 'fragment'],
      ['/../other', 'leaves the base path'],
      ['/%2e%2e/other', 'leaves the base path, encoded'],
      ['/a\nb', 'control character'],
      ['/a b', 'space'],
      [`/${'a'.repeat(1024)}`, 'too long'],
      [42, 'not a string'],
      [['/a'], 'an array (repeated query parameter)'],
    ])('refuses %p (%s)', (path) => {
      expect(sut.resolvePath(path)).toBeNull();
    });

    it.each([
      ['https://app.example.com/smb', true],
      ['https://app.example.com/smb/x?y=1', true],
      ['https://app.example.com/smbx', false],
      ['https://app.example.com/', false],
      ['http://app.example.com/smb/x', false],
      ['https://app.example.com:444/smb/x', false],
      ['https://app.example.com.evil.com/smb/x', false],
      ['https://u:p@app.example.com/smb/x', false],
      ['https://app.example.com\\@evil.com/smb', false],
      ['javascript:alert(1)//app.example.com/smb', false],
      ['not a url', false],
    ])('contains(%s) is %s', (url, expected) => {
      expect(sut.contains(url)).toBe(expected);
    });
  });

  it('takes every path under a root FRONTEND_URL', () => {
    const sut = new FrontendUrl('https://app.example.com');
    expect(sut.resolvePath('/x')).toBe('https://app.example.com/x');
    expect(sut.contains('https://app.example.com/anything')).toBe(true);
  });
});
