import {
  backoffDelayMs,
  decideOnErrcode,
  decideOnTransport,
  GETTOKEN_PATH,
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
