import {
  backoffDelayMs,
  callerIpFromErrmsg,
  credentialsAdvice,
  decideOnErrcode,
  decideOnTransport,
  GETTOKEN_PATH,
  isCredentialsRejected,
} from './wecom-retry-policy.js';

describe('WeCom retry policy', () => {
  const send = '/cgi-bin/message/send';

  it.each([
    [40014, 'refresh-token'],
    [42001, 'refresh-token'],
    [41001, 'refresh-token'],
    [40001, 'refresh-token'],
    [-1, 'backoff'],
    [45009, 'backoff'],
    [45033, 'backoff'],
    [40003, 'fail'],
    [46004, 'fail'],
    [60111, 'fail'],
    [40008, 'fail'],
    [44004, 'fail'],
    [45002, 'fail'],
    [40013, 'fail'],
    [48002, 'fail'],
    [60020, 'fail'],
    [301002, 'fail'],
    [40029, 'fail'],
    [81013, 'fail'],
  ])('errcode %i on message/send → %s', (errcode, decision) => {
    expect(decideOnErrcode(errcode, send)).toBe(decision);
  });

  it.each([40001, 40013, 40014, 42001, 41004])(
    'never retries gettoken on credential errcode %i (wrong secrets get the IP banned)',
    (errcode) => {
      expect(decideOnErrcode(errcode, GETTOKEN_PATH)).toBe('fail');
    },
  );

  it('backs off on HTTP 5xx, 429 and network failures, not on other 4xx', () => {
    expect(decideOnTransport({ httpStatus: 502 })).toBe('backoff');
    expect(decideOnTransport({ httpStatus: 503 })).toBe('backoff');
    expect(decideOnTransport({ httpStatus: 429 })).toBe('backoff');
    expect(decideOnTransport({ code: 'ECONNRESET' })).toBe('backoff');
    expect(decideOnTransport({ code: 'ECONNABORTED' })).toBe('backoff');
    expect(decideOnTransport({ httpStatus: 404 })).toBe('fail');
  });

  it('grows the delay exponentially with jitter, within the cap', () => {
    const settings = { maxRetries: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelayMs(0, settings, () => 0)).toBe(50);
    expect(backoffDelayMs(0, settings, () => 1)).toBe(100);
    expect(backoffDelayMs(2, settings, () => 1)).toBe(400);
    expect(backoffDelayMs(10, settings, () => 1)).toBe(1000);
    expect(backoffDelayMs(10, settings, () => 0)).toBe(500);
  });
});

describe('credentials rejected (messages wait instead of failing)', () => {
  const send = '/cgi-bin/message/send';

  it.each([
    [40001, GETTOKEN_PATH, true],
    [40001, send, false], // a stale token: refetched, not the deployment's fault
    [40013, GETTOKEN_PATH, true],
    [40056, send, true],
    [48002, send, true],
    [60020, send, true],
    [301002, send, true],
    [40003, send, false],
    [60111, send, false],
    [44004, send, false],
    [-1, send, false],
    [null, send, false],
  ])('errcode %p from %s: %p', (errcode, path, expected) => {
    expect(isCredentialsRejected({ errcode, path })).toBe(expected);
  });

  it('reads the address WeCom saw from its errmsg and names it in the advice', () => {
    const errmsg =
      'not allow to access from your ip, hint: [1668066487469060236436224], from ip: 203.0.113.7, more info at https://open.work.weixin.qq.com/devtool/query?e=60020';
    expect(callerIpFromErrmsg(errmsg)).toBe('203.0.113.7');
    expect(callerIpFromErrmsg('from ip: 2001:db8::1, more info')).toBe('2001:db8::1');
    expect(callerIpFromErrmsg('invalid credential')).toBeNull();
    expect(credentialsAdvice(60020, errmsg)).toMatch(/add 203\.0\.113\.7 to the app's trusted IPs/);
    expect(credentialsAdvice(60020, 'no address here')).toMatch(/add the address to/);
    expect(credentialsAdvice(40001, '')).toMatch(/Secret/);
  });
});
