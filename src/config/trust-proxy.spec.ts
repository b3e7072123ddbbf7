import { parseTrustProxy, TrustProxyError } from './trust-proxy.js';

describe(parseTrustProxy.name, () => {
  it('trusts nobody when unset, empty or false', () => {
    expect(parseTrustProxy(undefined)).toBe(false);
    expect(parseTrustProxy('')).toBe(false);
    expect(parseTrustProxy(' false ')).toBe(false);
  });

  it('reads a hop count as a number (Express reads the string "1" as an address)', () => {
    expect(parseTrustProxy('1')).toBe(1);
    expect(parseTrustProxy('0')).toBe(0);
  });

  it('reads names, addresses and CIDR ranges', () => {
    expect(parseTrustProxy('loopback')).toEqual(['loopback']);
    expect(parseTrustProxy('loopback, 10.0.0.0/8,192.168.1.7, fd00::/8, ::1')).toEqual([
      'loopback',
      '10.0.0.0/8',
      '192.168.1.7',
      'fd00::/8',
      '::1',
    ]);
  });

  it.each([
    ['true', 'true would trust any X-Forwarded-For'],
    ['17', 'at most 16'],
    ['loopbak', '"loopbak" is none of these'],
    ['10.0.0.0/33', '"10.0.0.0/33"'],
    ['300.1.1.1', '"300.1.1.1"'],
    ['loopback,', '"" is none of these'],
    ['*', '"*"'],
  ])('refuses %s, naming the problem', (value, message) => {
    expect(() => parseTrustProxy(value)).toThrow(TrustProxyError);
    expect(() => parseTrustProxy(value)).toThrow(message);
  });
});
