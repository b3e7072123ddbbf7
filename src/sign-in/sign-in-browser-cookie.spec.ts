import type { FastifyReply, FastifyRequest } from 'fastify';

import { SignInBrowserCookie } from './sign-in-browser-cookie.js';

/** The Set-Cookie headers set, each as its name=value and its attributes. */
function recordingReply() {
  const cookies: { pair: string; attributes: string[] }[] = [];
  const reply = {
    header: (name: string, value: string) => {
      expect(name).toBe('Set-Cookie');
      const [pair, ...attributes] = value.split(';').map((a) => a.trim());
      cookies.push({ pair: pair!, attributes });
      return reply;
    },
  } as unknown as FastifyReply;
  return { reply, cookies };
}
const requestWith = (cookie?: string) => ({ headers: { cookie } }) as unknown as FastifyRequest;

describe(SignInBrowserCookie.name, () => {
  it('scopes the cookie to the folder of the redirect_uri, behind a path prefix too', () => {
    const sut = new SignInBrowserCookie('https://bridge.example.com/smb/auth/wecom/callback');
    const { reply, cookies } = recordingReply();
    sut.set(reply, 'v'.repeat(43));
    sut.clear(reply);
    expect(cookies[0]!.pair).toBe(`wecom_signin=${'v'.repeat(43)}`);
    expect(cookies[0]!.attributes).toEqual(
      expect.arrayContaining([
        'HttpOnly',
        'SameSite=Lax',
        'Secure',
        'Path=/smb/auth/wecom',
        'Max-Age=600',
      ]),
    );
    expect(cookies[1]!.pair).toBe('wecom_signin=');
    expect(cookies[1]!.attributes).toEqual(
      expect.arrayContaining([
        'HttpOnly',
        'SameSite=Lax',
        'Secure',
        'Path=/smb/auth/wecom',
        'Expires=Thu, 01 Jan 1970 00:00:00 GMT',
      ]),
    );
    expect(cookies[1]!.attributes.some((a) => a.startsWith('Max-Age'))).toBe(false);
  });

  it('is not Secure over http (a local run), where browsers would drop a Secure cookie', () => {
    const sut = new SignInBrowserCookie('http://localhost:3000/auth/wecom/callback');
    const { reply, cookies } = recordingReply();
    sut.set(reply, 'v'.repeat(43));
    expect(cookies[0]!.attributes).toContain('Path=/auth/wecom');
    expect(cookies[0]!.attributes).not.toContain('Secure');
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
