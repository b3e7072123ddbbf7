import type { CookieOptions, Request, Response } from 'express';

import { SignInBrowserCookie } from './sign-in-browser-cookie.js';

/** What `res.cookie` / `res.clearCookie` were called with. */
function recordingResponse() {
  const calls: { op: 'set' | 'clear'; name: string; value?: string; options: CookieOptions }[] = [];
  const res = {
    cookie: (name: string, value: string, options: CookieOptions) =>
      calls.push({ op: 'set', name, value, options }),
    clearCookie: (name: string, options: CookieOptions) =>
      calls.push({ op: 'clear', name, options }),
  } as unknown as Response;
  return { res, calls };
}
const requestWith = (cookie?: string) => ({ headers: { cookie } }) as unknown as Request;

describe(SignInBrowserCookie.name, () => {
  it('scopes the cookie to the folder of the redirect_uri, behind a path prefix too', () => {
    const sut = new SignInBrowserCookie('https://bridge.example.com/smb/auth/wecom/callback');
    const { res, calls } = recordingResponse();
    sut.set(res, 'v'.repeat(43));
    sut.clear(res);
    expect(calls[0]).toEqual({
      op: 'set',
      name: 'wecom_signin',
      value: 'v'.repeat(43),
      options: {
        httpOnly: true,
        sameSite: 'lax',
        secure: true,
        path: '/smb/auth/wecom',
        maxAge: 600_000,
      },
    });
    expect(calls[1]).toEqual({
      op: 'clear',
      name: 'wecom_signin',
      options: { httpOnly: true, sameSite: 'lax', secure: true, path: '/smb/auth/wecom' },
    });
  });

  it('is not Secure over http (a local run), where browsers would drop a Secure cookie', () => {
    const sut = new SignInBrowserCookie('http://localhost:3000/auth/wecom/callback');
    const { res, calls } = recordingResponse();
    sut.set(res, 'v'.repeat(43));
    expect(calls[0]?.options).toMatchObject({ secure: false, path: '/auth/wecom' });
  });

  it('reads only a value it could have set, among other cookies', () => {
    const sut = new SignInBrowserCookie('https://b.example.com/auth/wecom/callback');
    const good = 'A'.repeat(42) + '_';
    expect(sut.read(requestWith(`a=1; wecom_signin=${good}; b=2`))).toBe(good);
    expect(sut.read(requestWith('wecom_signin=short'))).toBeUndefined();
    expect(sut.read(requestWith(`wecom_signin=${'A'.repeat(42)};`))).toBeUndefined();
    expect(sut.read(requestWith(`xwecom_signin=${good}`))).toBeUndefined();
    expect(sut.read(requestWith())).toBeUndefined();
  });

  it('keeps a value the browser already holds, else makes a new random one', () => {
    const sut = new SignInBrowserCookie('https://b.example.com/auth/wecom/callback');
    const held = 'B'.repeat(43);
    expect(sut.valueFor(requestWith(`wecom_signin=${held}`))).toBe(held);
    const fresh = new Set([sut.valueFor(requestWith()), sut.valueFor(requestWith())]);
    expect(fresh.size).toBe(2);
    for (const value of fresh) expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
