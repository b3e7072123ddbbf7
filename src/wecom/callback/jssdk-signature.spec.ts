import { getJsApiSignature } from '@wecom/crypto';

import { jssdkSignature, newNonce } from './jssdk-signature.js';

// The worked example from the WeChat / WeCom JS-SDK signature documentation.
const TICKET =
  'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg';
const NONCE = 'Wm3WZYTPz0wzccnW';
const TIMESTAMP = 1414587457;
const URL = 'http://mp.weixin.qq.com?params=value';
const EXPECTED = '0f9de62fce790f9a083d5c99e95740ceb90c27ed';

describe(jssdkSignature.name, () => {
  const sut = jssdkSignature;

  it('matches the documented example', () => {
    expect(sut(TICKET, NONCE, TIMESTAMP, URL)).toBe(EXPECTED);
  });

  it('treats a string timestamp like a number', () => {
    expect(sut(TICKET, NONCE, String(TIMESTAMP), URL)).toBe(EXPECTED);
  });

  it('matches @wecom/crypto getJsApiSignature', () => {
    const url = 'https://interview.example.com/wecom/sign-in?id=42&lang=zh-CN';
    expect(sut(TICKET, NONCE, TIMESTAMP, url)).toBe(
      getJsApiSignature({ url, ticket: TICKET, nonceStr: NONCE, timestamp: TIMESTAMP }).signature,
    );
  });

  it('drops the #fragment before signing', () => {
    expect(sut(TICKET, NONCE, TIMESTAMP, `${URL}#wechat_redirect`)).toBe(EXPECTED);
    expect(sut(TICKET, NONCE, TIMESTAMP, `${URL}#a#b`)).toBe(EXPECTED);
    expect(sut(TICKET, NONCE, TIMESTAMP, `${URL}#`)).toBe(EXPECTED);
    // @wecom/crypto leaves stripping to the caller.
    expect(sut(TICKET, NONCE, TIMESTAMP, 'https://h/p?q=1#/route')).toBe(
      getJsApiSignature({
        url: 'https://h/p?q=1',
        ticket: TICKET,
        nonceStr: NONCE,
        timestamp: TIMESTAMP,
      }).signature,
    );
  });

  it('signs the URL as given, without URL-encoding it', () => {
    const raw = 'https://h/p?name=张三&x=a b';
    expect(sut(TICKET, NONCE, TIMESTAMP, raw)).toBe(
      getJsApiSignature({ url: raw, ticket: TICKET, nonceStr: NONCE, timestamp: TIMESTAMP })
        .signature,
    );
    expect(sut(TICKET, NONCE, TIMESTAMP, raw)).not.toBe(
      sut(TICKET, NONCE, TIMESTAMP, encodeURI(raw)),
    );
  });

  it('changes with every input', () => {
    const base = sut(TICKET, NONCE, TIMESTAMP, URL);
    expect(sut(`${TICKET}x`, NONCE, TIMESTAMP, URL)).not.toBe(base);
    expect(sut(TICKET, `${NONCE}x`, TIMESTAMP, URL)).not.toBe(base);
    expect(sut(TICKET, NONCE, TIMESTAMP + 1, URL)).not.toBe(base);
    expect(sut(TICKET, NONCE, TIMESTAMP, `${URL}x`)).not.toBe(base);
  });
});

describe(newNonce.name, () => {
  const sut = newNonce;

  it('returns 16 alphanumeric characters by default', () => {
    expect(sut()).toMatch(/^[A-Za-z0-9]{16}$/);
  });

  it('honours the length', () => {
    expect(sut(1)).toMatch(/^[A-Za-z0-9]$/);
    expect(sut(32)).toMatch(/^[A-Za-z0-9]{32}$/);
  });

  it('does not repeat', () => {
    const nonces = new Set(Array.from({ length: 200 }, () => sut()));
    expect(nonces.size).toBe(200);
  });

  it('uses the whole alphabet', () => {
    const seen = new Set(sut(256) + sut(256) + sut(256) + sut(256));
    expect(seen.size).toBeGreaterThan(55);
  });

  it.each([0, -1, 1.5, 257, Number.NaN])('rejects a length of %p', (length) => {
    expect(() => sut(length)).toThrow(RangeError);
  });
});
